// agentrun runs the agent at its defaults beside a small busy workload for a given time, stops it
// and prints its Stats as JSON: the real agent for measurements (bench/agent-requests.ts counts the
// S3 and SQS requests its uploads cause). Configuration: the agent's FLEETPROF_* variables
// (ConfigFromEnv, FLEETPROF_PER_FILE_UPLOADS included) and FLEETPROF_RUN_FOR (a Go duration).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/fleetprof/fleetprof/agent"
)

func main() {
	cfg, err := agent.ConfigFromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	runFor, err := time.ParseDuration(os.Getenv("FLEETPROF_RUN_FOR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "FLEETPROF_RUN_FOR:", err)
		os.Exit(2)
	}
	a, err := agent.Start(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	stop := make(chan struct{})
	go work(stop)
	time.Sleep(runFor)
	close(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	json.NewEncoder(os.Stdout).Encode(a.Stats())
}

// work allocates and computes at a low duty cycle, so every profile kind has samples.
func work(stop <-chan struct{}) {
	var keep [][]byte
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		keep = append(keep, make([]byte, 1024+i%4096))
		if len(keep) > 2000 {
			keep = keep[:0]
		}
		s := 0
		for j := 0; j < 20000; j++ {
			s += j * j
		}
		_ = s
	}
}
