package agent_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetprof/fleetprof/agent"
)

// startLocal runs `fleetprof local` on the test's moto (AWS_ENDPOINT_URL) with its own bucket and
// queues, and returns its query API and bucket; it is stopped when the test ends.
func startLocal(t *testing.T, bucketName string) (api, bucket string) {
	t.Helper()
	cli, err := filepath.Abs("../dist/bin/fleetprof.js")
	if err != nil {
		t.Fatal(err)
	}
	node, nodeErr := exec.LookPath("node")
	if _, err := os.Stat(cli); err != nil || nodeErr != nil {
		t.Skip("needs node and ../dist/bin/fleetprof.js (run npm run build first)")
	}
	if moto == nil {
		t.Skip("moto_server not available")
	}

	// fleetprof local on the test's moto (AWS_ENDPOINT_URL), its own bucket and queues.
	cmd := exec.Command(node, cli, "local", "--port", "0", "--bucket", bucketName, "--batch-window", "0", "--visibility-timeout", "2")
	cmd.Env = append(os.Environ(), moto.Env()...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	exports := map[string]string{}
	line := regexp.MustCompile(`^export ([A-Z_0-9]+)='(.*)'$`)
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := line.FindStringSubmatch(sc.Text()); m != nil {
				exports[m[1]] = m[2]
				if m[1] == "FLEETPROF_API" {
					close(found)
				}
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("fleetprof local printed no exports within 60 s")
	}
	return exports["FLEETPROF_API"], exports["FLEETPROF_BUCKET"]
}

// The whole path an adopting team takes: the agent uploads to the bucket of `fleetprof local`
// (moto + the real ingest handler on the S3 -> SQS notifications + the real query API), and the
// uploads come out as queryable rows. Needs node and the built CLI (CI builds it before Go tests).
func TestPipelineIngestsAgentUploads(t *testing.T) {
	api, bucket := startLocal(t, "agent-pipeline")

	if st := runBriefly(t, agent.Config{Bucket: bucket, Service: "checkout", Instance: "pod-1", Version: "v1", Labels: map[string]string{"region": "eu"}}); st.Uploaded == 0 {
		t.Fatalf("the agent uploaded nothing: %+v", st)
	}

	// Every profile kind the agent collects, and its runtime/metrics snapshots, become rows.
	want := []string{"allocs", "block", "cpu", "goroutine", "heap", "mutex"}
	deadline := time.Now().Add(90 * time.Second)
	for {
		kinds := sqlColumn(t, api, "SELECT DISTINCT kind FROM profiles WHERE service = 'checkout' AND version = 'v1' AND labels['region'] = 'eu' ORDER BY 1")
		metrics := sqlColumn(t, api, "SELECT count(*)::VARCHAR FROM runtime_metrics WHERE service = 'checkout'")
		if strings.Join(kinds, ",") == strings.Join(want, ",") && len(metrics) == 1 && metrics[0] != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 90 s: kinds %v (want %v), runtime_metrics rows %v", kinds, want, metrics)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// They came as bundles (the default): every profile's source is <bundle>!<member>, counter
	// kinds as deltas (the manifest's temporality), each with the agent's process identity.
	notBundled := sqlColumn(t, api, "SELECT count(*)::VARCHAR FROM profiles WHERE service = 'checkout' AND NOT regexp_matches(source, '_bundle_[^/]*[.]tar[.]gz#[^!]+![a-z]+[.]pb$')")
	temporality := sqlColumn(t, api, "SELECT DISTINCT kind || ':' || temporality || ':' || (process <> '')::VARCHAR FROM profiles WHERE service = 'checkout' ORDER BY 1")
	wantT := []string{"allocs:delta:true", "block:delta:true", "cpu:delta:true", "goroutine:cumulative:true", "heap:delta:true", "mutex:delta:true"}
	if len(notBundled) != 1 || notBundled[0] != "0" || strings.Join(temporality, ",") != strings.Join(wantT, ",") {
		t.Fatalf("profiles not from bundles: %v; kind:temporality:process %v, want %v", notBundled, temporality, wantT)
	}
}

// sqlColumn runs POST /sql and returns the first column as strings (nil on any error: still ingesting).
func sqlColumn(t *testing.T, api, sql string) []string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"sql": sql})
	resp, err := http.Post(api+"/sql", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil
	}
	var r struct {
		Rows [][]any `json:"rows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil
	}
	var out []string
	for _, row := range r.Rows {
		if len(row) > 0 {
			if s, ok := row[0].(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
