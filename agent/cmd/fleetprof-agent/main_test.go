//go:build unix

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleetprof/fleetprof/agent/internal/contract"
	"github.com/fleetprof/fleetprof/agent/internal/mototest"
)

var (
	moto    *mototest.Server
	wrapper string // built fleetprof-agent
	child   string // built testdata/child
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fleetprof-agent-test")
	if err != nil {
		panic(err)
	}
	wrapper, child = filepath.Join(dir, "fleetprof-agent"), filepath.Join(dir, "child")
	for out, pkg := range map[string]string{wrapper: ".", child: "./testdata/child"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := mototest.Main(m, &moto)
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr []byte
	code           int
	took           time.Duration
}

func runWrapped(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(wrapper, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	r := result{stdout: out.Bytes(), stderr: errb.Bytes(), took: time.Since(t0)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func fleetEnv(bucket string) []string {
	return append(moto.Env(), "FLEETPROF_BUCKET="+bucket, "FLEETPROF_SERVICE=checkout", "FLEETPROF_INSTANCE=pod-3",
		"FLEETPROF_VERSION=v2.0.1", "FLEETPROF_LABELS=region=eu-west-1,team=pay%2Cments")
}

var gcLine = regexp.MustCompile(`^gc \d+ @\d+\.\d+s \d+%: .* \d+ P( \(forced\))?$`)

func TestWrapperGctrace(t *testing.T) {
	mototest.Require(t, moto)
	bucket := moto.Bucket(t)
	env := append(fleetEnv(bucket), "GODEBUG=madvdontneed=1", "GOMAXPROCS=1")
	before := time.Now()
	r := runWrapped(t, env, "run", "-period", "300ms", "--", child, "alloc", "60", "3")
	if r.code != 3 {
		t.Fatalf("exit code %d, want 3; stderr:\n%s", r.code, r.stderr)
	}
	var wantOut strings.Builder
	wantOut.WriteString("GODEBUG=madvdontneed=1,gctrace=1\n")
	var wantErr []string
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&wantOut, "out-line %d\n", i)
		wantErr = append(wantErr, fmt.Sprintf("err-line %d", i))
	}
	wantOut.WriteString("no newline at the end")
	if string(r.stdout) != wantOut.String() {
		t.Fatalf("stdout differs:\n%q\nwant\n%q", r.stdout, wantOut.String())
	}
	// stderr: the app's lines in order, and gc lines from the runtime between them.
	var appLines, gcLines []string
	for _, l := range strings.SplitAfter(string(r.stderr), "\n") {
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, "\n") {
			t.Fatalf("stderr ends without newline: %q", l)
		}
		l = strings.TrimSuffix(l, "\n")
		if gcLine.MatchString(l) {
			gcLines = append(gcLines, l)
		} else {
			appLines = append(appLines, l)
		}
	}
	if strings.Join(appLines, "\n") != strings.Join(wantErr, "\n") {
		t.Fatalf("stderr app lines differ:\n%s", r.stderr)
	}
	if len(gcLines) < 10 {
		t.Fatalf("only %d gc lines in stderr", len(gcLines))
	}

	objs := moto.Objects(t, bucket)
	if len(objs) < 2 {
		t.Fatalf("%d objects, want several batches (period 300ms)", len(objs))
	}
	var uploaded []string
	var start time.Time
	for i, o := range objs {
		k, err := contract.ParseKey(o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if k.Service != "checkout" || k.Instance != "pod-3" || k.Kind != "gctrace" || k.Ext != "log.gz" || k.Tag == "" {
			t.Errorf("%s: %+v", o.Key, k)
		}
		if i == 0 {
			start = k.Start
		} else if !k.Start.Equal(start) {
			t.Errorf("%s: start %v differs from the first batch's %v (must be the process start)", o.Key, k.Start, start)
		}
		if o.Metadata["version"] != "v2.0.1" || o.Metadata["labels"] != "region=eu-west-1,team=pay%2Cments" {
			t.Errorf("%s: metadata %v", o.Key, o.Metadata)
		}
		zr, err := gzip.NewReader(bytes.NewReader(o.Body))
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		body, _ := io.ReadAll(zr)
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			uploaded = append(uploaded, sc.Text())
		}
	}
	if start.Before(before.Truncate(time.Millisecond)) || start.After(before.Add(time.Second)) {
		t.Errorf("start %v, process started at about %v", start, before)
	}
	// Batches were uploaded in order; their seq tags sort as numbers, keys as strings: sort lines by gc number.
	if len(uploaded) != len(gcLines) {
		t.Fatalf("uploaded %d gc lines, stderr had %d", len(uploaded), len(gcLines))
	}
	got := map[string]bool{}
	for _, l := range uploaded {
		got[l] = true
	}
	for _, l := range gcLines {
		if !got[l] {
			t.Errorf("gc line not uploaded: %s", l)
		}
	}
}

func blob(seed uint64) []byte {
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

func TestWrapperPassesBytesThrough(t *testing.T) {
	mototest.Require(t, moto)
	bucket := moto.Bucket(t)
	env := append(fleetEnv(bucket), "GOGC=off") // no GC: stderr is exactly the app's bytes
	r := runWrapped(t, env, "run", "--", child, "blob", "5")
	if r.code != 5 {
		t.Fatalf("exit code %d, want 5", r.code)
	}
	if !bytes.Equal(r.stdout, blob(1)) {
		t.Errorf("stdout: %d bytes differ from the child's %d", len(r.stdout), len(blob(1)))
	}
	if !bytes.Equal(r.stderr, blob(2)) {
		t.Errorf("stderr: %d bytes differ from the child's %d", len(r.stderr), len(blob(2)))
	}
	if objs := moto.Objects(t, bucket); len(objs) != 0 {
		t.Errorf("uploaded %d objects without gc lines", len(objs))
	}
}

func TestWrapperForwardsSignals(t *testing.T) {
	for _, tc := range []struct {
		mode string
		sig  syscall.Signal
		want int
	}{
		{"trap", syscall.SIGTERM, 7},                        // the child handles it and exits 7
		{"wait", syscall.SIGHUP, 128 + int(syscall.SIGHUP)}, // the child dies of it
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := exec.Command(wrapper, "run", "--", child, tc.mode)
			cmd.Env = append(os.Environ(), "FLEETPROF_BUCKET=b", "FLEETPROF_SERVICE=s", "AWS_ENDPOINT_URL=http://127.0.0.1:1")
			stdout, _ := cmd.StdoutPipe()
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			if line != "ready\n" {
				t.Fatalf("child said %q", line)
			}
			cmd.Process.Signal(tc.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatal("wrapper did not exit")
			}
			if code := cmd.ProcessState.ExitCode(); code != tc.want {
				t.Fatalf("exit code %d, want %d; stderr %q", code, tc.want, errb.String())
			}
			if tc.mode == "trap" && errb.String() != "got terminated\n" {
				t.Errorf("stderr %q", errb.String())
			}
		})
	}
}

func TestWrapperNeverBlocksTheService(t *testing.T) {
	// No bucket configured: one line from the wrapper, the child still runs.
	r := runWrapped(t, []string{"FLEETPROF_BUCKET=", "FLEETPROF_SERVICE=s", "GOGC=off"}, "run", "--", child, "blob", "0")
	if r.code != 0 || !bytes.Equal(r.stdout, blob(1)) {
		t.Fatalf("code %d, %d bytes of stdout", r.code, len(r.stdout))
	}
	if !bytes.HasPrefix(r.stderr, []byte("fleetprof-agent: fleetprof agent: Config.Bucket is required; running ")) || !bytes.HasSuffix(r.stderr, blob(2)) {
		t.Errorf("stderr starts %q", r.stderr[:min(len(r.stderr), 120)])
	}
	// S3 unreachable: gc lines cannot be uploaded; the wrapper exits within its flush timeout.
	r = runWrapped(t, []string{"FLEETPROF_BUCKET=b", "FLEETPROF_SERVICE=s", "AWS_ENDPOINT_URL=http://127.0.0.1:1",
		"AWS_ACCESS_KEY_ID=a", "AWS_SECRET_ACCESS_KEY=b", "AWS_REGION=us-east-1"},
		"run", "-flush-timeout", "500ms", "-retry-min", "50ms", "-v", "--", child, "alloc", "20", "0")
	if r.code != 0 {
		t.Fatalf("code %d", r.code)
	}
	if r.took > 5*time.Second {
		t.Errorf("wrapper took %v with S3 down", r.took)
	}
	if !bytes.Contains(r.stderr, []byte("fleetprof-agent: ")) || !bytes.Contains(r.stderr, []byte(" 0 uploads")) {
		t.Errorf("no -v summary in stderr: %q", r.stderr[max(0, len(r.stderr)-300):])
	}
	// Command not found: 127, like a shell.
	r = runWrapped(t, []string{"FLEETPROF_BUCKET=b", "FLEETPROF_SERVICE=s"}, "run", "--", "/nonexistent/cmd")
	if r.code != 127 {
		t.Errorf("code %d, want 127", r.code)
	}
}

func TestWithGctrace(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "GODEBUG=gctrace=1",
		"GODEBUG=":          "GODEBUG=gctrace=1",
		"GODEBUG=a=1":       "GODEBUG=a=1,gctrace=1",
		"GODEBUG=gctrace=1": "GODEBUG=gctrace=1",
		"GODEBUG=gctrace=0": "GODEBUG=gctrace=0,gctrace=1",
	} {
		env := []string{"PATH=/bin"}
		if in != "" {
			env = append(env, in)
		}
		out := withGctrace(env)
		if out[len(out)-1] != want || out[0] != "PATH=/bin" {
			t.Errorf("withGctrace(%q) = %q, want %q", in, out, want)
		}
	}
}
