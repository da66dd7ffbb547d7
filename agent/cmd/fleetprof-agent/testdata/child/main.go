// A tiny service for the wrapper tests.
//
//	child alloc N CODE   N rounds of: a line on stdout, a line on stderr, 4 MiB of garbage, 10ms sleep; exit CODE
//	child blob CODE      256 KiB of deterministic binary noise to stdout and stderr in odd-sized writes
//	child trap           print "ready", exit 7 on SIGTERM
//	child wait           print "ready", sleep (dies of whatever signal it gets)
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

var sink [][]byte

func main() {
	switch os.Args[1] {
	case "alloc":
		n, _ := strconv.Atoi(os.Args[2])
		code, _ := strconv.Atoi(os.Args[3])
		fmt.Printf("GODEBUG=%s\n", os.Getenv("GODEBUG"))
		for i := 0; i < n; i++ {
			fmt.Fprintf(os.Stdout, "out-line %d\n", i)
			fmt.Fprintf(os.Stderr, "err-line %d\n", i)
			for j := 0; j < 1024; j++ {
				sink = append(sink, make([]byte, 4096))
			}
			sink = sink[:0]
			time.Sleep(10 * time.Millisecond)
		}
		os.Stdout.WriteString("no newline at the end")
		os.Exit(code)
	case "blob":
		code, _ := strconv.Atoi(os.Args[2])
		out, errb := Blob(1), Blob(2)
		for i, sz := 0, 1; i < len(out); i, sz = i+sz, sz*3%4093+1 {
			os.Stdout.Write(out[i:min(i+sz, len(out))])
			os.Stderr.Write(errb[i:min(i+sz, len(errb))])
		}
		os.Exit(code)
	case "trap":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("ready")
		<-c
		fmt.Fprintln(os.Stderr, "got terminated")
		os.Exit(7)
	case "wait":
		fmt.Println("ready")
		time.Sleep(time.Minute)
	}
}

// Blob is 256 KiB of xorshift noise (every byte value, \r, \n and invalid UTF-8 included).
func Blob(seed uint64) []byte {
	b := make([]byte, 256<<10)
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}
