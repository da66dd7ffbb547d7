//go:build unix

// fleetprof-agent runs a Go service with GODEBUG=gctrace=1 and uploads its gc lines to the
// fleetprof bucket, for services that cannot (or should not) import the agent package:
//
//	fleetprof-agent run [flags] -- <cmd> [args...]
//
// The child's stdout is the wrapper's own stdout (inherited, untouched); its stderr goes through a
// pipe and is written to the wrapper's stderr byte for byte as it arrives, while the gc lines are
// copied aside and uploaded in batches (kind gctrace, start = the process start). Signals (INT,
// TERM, HUP, QUIT, USR1, USR2, WINCH, ALRM) are forwarded to the child; the wrapper exits with the
// child's exit code (128+N when the child died of signal N) after a bounded flush. It writes
// nothing of its own unless the configuration is unusable (one line on stderr, and the child
// still runs) or -v is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fleetprof/fleetprof/agent"
	"github.com/fleetprof/fleetprof/agent/internal/contract"
)

const usage = `usage: fleetprof-agent run [flags] -- <cmd> [args...]

Runs <cmd> with GODEBUG=gctrace=1 added, passes its stdout/stderr through unchanged, and uploads
its gc lines to s3://<bucket>/raw/<service>/<instance>/<start>_gctrace_<tag>.log.gz.
Flags default to FLEETPROF_BUCKET, FLEETPROF_SERVICE, FLEETPROF_INSTANCE, FLEETPROF_VERSION,
FLEETPROF_LABELS (k=v,k=v), FLEETPROF_BUFFER_DIR, FLEETPROF_S3_PATH_STYLE, FLEETPROF_PERIOD.
AWS settings come from the standard chain (AWS_REGION, AWS_ENDPOINT_URL, credentials).

flags:
`

type labelFlag map[string]string

func (l labelFlag) String() string { return contract.FormatLabels(l) }
func (l labelFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q is not k=v", s)
	}
	l[k] = v
	return nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	cfg, envErr := agent.ConfigFromEnv()
	labels := labelFlag{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	fs := flag.NewFlagSet("fleetprof-agent run", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&cfg.Bucket, "bucket", cfg.Bucket, "S3 bucket")
	fs.StringVar(&cfg.Service, "service", cfg.Service, "service name")
	fs.StringVar(&cfg.Instance, "instance", cfg.Instance, "instance name (default: hostname)")
	fs.StringVar(&cfg.Version, "version", cfg.Version, "service version (x-amz-meta-version)")
	fs.Var(labels, "label", "label k=v (repeatable; x-amz-meta-labels)")
	fs.StringVar(&cfg.BufferDir, "buffer-dir", cfg.BufferDir, "spill pending uploads to this directory (kept across restarts)")
	fs.Int64Var(&cfg.MaxBufferBytes, "max-buffer-bytes", agent.DefaultMaxBufferBytes, "in-memory upload buffer bound")
	fs.BoolVar(&cfg.UsePathStyle, "path-style", cfg.UsePathStyle, "path-style S3 addressing (local S3 endpoints)")
	period := fs.Duration("period", orDefault(cfg.Period, agent.DefaultPeriod), "upload the gc lines this often")
	flushTimeout := fs.Duration("flush-timeout", 10*time.Second, "after the child exits, try this long to upload what is left")
	retryMin := fs.Duration("retry-min", agent.DefaultRetryMin, "first retry delay")
	verbose := fs.Bool("v", false, "report upload counters on stderr at exit")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "fleetprof-agent: no command given (fleetprof-agent run [flags] -- <cmd> [args...])")
		return 2
	}
	cfg.Labels = labels
	cfg.Profiles = []string{} // the child is another process: gctrace only
	cfg.MetricsPeriod = -1
	cfg.Period = *period
	cfg.RetryMin = *retryMin
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(agent.DefaultRetryMax, cfg.RetryMin)
	}

	// Never keep the service from running: a bad configuration only disables uploads.
	var a *agent.Agent
	var err error
	if envErr != nil {
		err = envErr
	} else {
		a, err = agent.Start(context.Background(), cfg)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleetprof-agent: %v; running %s without uploads\n", err, argv[0])
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = withGctrace(os.Environ())
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleetprof-agent: %v\n", err)
		return 126
	}
	cmd.Stderr = pw
	cmd.SysProcAttr = sysProcAttr()

	// Forward signals from before Start, so none is lost in between.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)

	procStart := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		fmt.Fprintf(os.Stderr, "fleetprof-agent: %v\n", err)
		if a != nil {
			ctx, cancel := context.WithTimeout(context.Background(), *flushTimeout)
			a.Stop(ctx)
			cancel()
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127
		}
		return 126
	}
	pw.Close()

	var sink io.Writer = io.Discard
	var shipper *agent.GCTraceShipper
	if a != nil {
		shipper = agent.NewGCTraceShipper(a, procStart, cfg.Period)
		sink = shipper
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		passThrough(pr, os.Stderr, sink)
	}()

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var waitErr error
loop:
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
		case waitErr = <-waited:
			break loop
		}
	}
	// The child is gone; its stderr ends when every holder of the pipe (grandchildren too) exits.
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}

	code := exitCode(cmd.ProcessState, waitErr)
	if a != nil {
		shipper.Close()
		ctx, cancel := context.WithTimeout(context.Background(), *flushTimeout)
		stopErr := a.Stop(ctx)
		cancel()
		if *verbose {
			st := a.Stats()
			fmt.Fprintf(os.Stderr, "fleetprof-agent: %d gc lines, %d uploads (%d bytes), %d failed attempts, %d dropped, %d pending\n",
				shipper.Lines(), st.Uploaded, st.UploadedBytes, st.FailedAttempts, st.Dropped, st.Pending)
			if stopErr != nil {
				fmt.Fprintf(os.Stderr, "fleetprof-agent: %v (last error: %s)\n", stopErr, st.LastError)
			}
		}
	}
	return code
}

var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGALRM}

// passThrough copies r to w unchanged as it arrives, and the same bytes to sink. A failing w
// (closed stderr) does not stop the copy: the child must never block on a full pipe.
func passThrough(r io.Reader, w io.Writer, sink io.Writer) {
	buf := make([]byte, 32<<10)
	wOK := true
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if wOK {
				if _, werr := w.Write(buf[:n]); werr != nil {
					wOK = false
				}
			}
			sink.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// withGctrace appends gctrace=1 to GODEBUG (later settings win in GODEBUG, so it takes effect
// even when GODEBUG already names gctrace).
func withGctrace(env []string) []string {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			found = true
			if hasSetting(v, "gctrace=1") {
				out = append(out, kv)
			} else if v == "" {
				out = append(out, "GODEBUG=gctrace=1")
			} else {
				out = append(out, "GODEBUG="+v+",gctrace=1")
			}
			continue
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GODEBUG=gctrace=1")
	}
	return out
}

func hasSetting(godebug, kv string) bool {
	last := ""
	for _, s := range strings.Split(godebug, ",") {
		if strings.HasPrefix(s, "gctrace=") {
			last = s
		}
	}
	return last == kv
}

func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		if err != nil {
			return 1
		}
		return 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
