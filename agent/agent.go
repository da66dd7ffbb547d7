// Package agent uploads a Go program's runtime profiles and runtime/metrics snapshots to the
// fleetprof bucket under the upload contract (docs/upload-contract.md), off the hot path:
//
//	stop, err := agent.Start(ctx, agent.Config{Bucket: "my-fleetprof-bucket", Service: "checkout", Version: "v1.4.2"})
//	if err != nil { log.Print(err) } else { defer stop.Stop(context.Background()) }
//
// Collection and uploads run in their own goroutines; the buffer between them is bounded in
// memory (and optionally on disk). A full buffer drops its oldest upload and counts it (Stats);
// it never blocks the program. Panics inside the agent are recovered and counted.
package agent

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fleetprof/fleetprof/agent/internal/contract"
)

// DefaultProfiles are collected when Config.Profiles is nil.
var DefaultProfiles = []string{"cpu", "heap", "allocs", "goroutine", "block", "mutex"}

// Defaults of the Config fields left zero.
const (
	DefaultPeriod               = 60 * time.Second
	DefaultCPUDuration          = 10 * time.Second
	DefaultMetricsPeriod        = 10 * time.Second
	DefaultMaxBufferBytes       = 16 << 20
	DefaultMaxDiskBytes         = 256 << 20
	DefaultUploadTimeout        = 30 * time.Second
	DefaultRetryMin             = time.Second
	DefaultRetryMax             = 2 * time.Minute
	DefaultBlockProfileRate     = 10000 // ns: every blocking event >= 10µs, shorter ones sampled
	DefaultMutexProfileFraction = 10    // 1 in 10 contention events
	// permanentAttempts: an upload rejected with a non-retryable 4xx is given up after this many tries.
	permanentAttempts = 3
)

// PutObjectAPI is the part of *s3.Client the agent uses (tests and wrappers may pass their own).
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Config says where to upload and what to collect. Only Bucket and Service are required.
type Config struct {
	Bucket   string
	Service  string            // [A-Za-z0-9][A-Za-z0-9._-]{0,127}
	Instance string            // default: the hostname (pod name in Kubernetes/ECS), sanitized
	Version  string            // x-amz-meta-version
	Labels   map[string]string // x-amz-meta-labels

	// Profiles to collect every Period: cpu, heap, allocs, goroutine, block, mutex, threadcreate.
	// nil means DefaultProfiles; an empty non-nil slice collects none (metrics only).
	Profiles    []string
	Period      time.Duration // default 60s
	CPUDuration time.Duration // CPU profile length per Period, default 10s (capped at Period)
	// MetricsPeriod: one runtime/metrics snapshot this often, uploaded in batches (JSON lines) once
	// per Period. Default 10s; negative disables metrics.
	MetricsPeriod time.Duration

	// BlockProfileRate / MutexProfileFraction are set while the agent runs when block / mutex
	// profiles are collected (0: the defaults above; negative: leave the program's setting alone).
	BlockProfileRate     int
	MutexProfileFraction int

	MaxBufferBytes int64  // in-memory buffer bound, default 16 MiB
	BufferDir      string // optional: spill to (and persist across restarts in) this directory
	MaxDiskBytes   int64  // disk bound when BufferDir is set, default 256 MiB

	UploadTimeout time.Duration // per PutObject, default 30s
	RetryMin      time.Duration // first retry delay (jittered, doubling), default 1s
	RetryMax      time.Duration // largest retry delay, default 2 min

	// S3 client. Nil: built from the standard AWS chain (AWS_REGION, AWS_ENDPOINT_URL(_S3),
	// credentials), with Region, Endpoint and UsePathStyle applied when set.
	S3           PutObjectAPI
	Region       string
	Endpoint     string
	UsePathStyle bool

	// PerFileUploads uploads every profile and metrics batch as its own object, as agents before
	// bundles did (~13 objects per minute at the defaults). Default false: one bundle per Period
	// holding that period's profiles and metrics (docs/upload-contract.md, "Bundles").
	PerFileUploads bool

	// Logger receives rare diagnostics (the first upload failure, recovered panics) at Warn
	// level; nil means silent. The agent never writes to stdout/stderr on its own.
	Logger *slog.Logger
}

// ConfigFromEnv fills a Config from FLEETPROF_* variables: BUCKET, SERVICE, INSTANCE, VERSION,
// LABELS (k=v,k=v, URL-encoded as in x-amz-meta-labels), BUFFER_DIR, S3_PATH_STYLE (true/1),
// PER_FILE_UPLOADS (true/1), PERIOD, CPU_DURATION, METRICS_PERIOD (Go durations such as 30s).
func ConfigFromEnv() (Config, error) {
	c := Config{
		Bucket:    os.Getenv("FLEETPROF_BUCKET"),
		Service:   os.Getenv("FLEETPROF_SERVICE"),
		Instance:  os.Getenv("FLEETPROF_INSTANCE"),
		Version:   os.Getenv("FLEETPROF_VERSION"),
		BufferDir: os.Getenv("FLEETPROF_BUFFER_DIR"),
	}
	if s := os.Getenv("FLEETPROF_LABELS"); s != "" {
		l, err := contract.ParseLabels(s)
		if err != nil {
			return c, fmt.Errorf("FLEETPROF_LABELS: %w", err)
		}
		c.Labels = l
	}
	for _, b := range []struct {
		env string
		dst *bool
	}{{"FLEETPROF_S3_PATH_STYLE", &c.UsePathStyle}, {"FLEETPROF_PER_FILE_UPLOADS", &c.PerFileUploads}} {
		if s := os.Getenv(b.env); s != "" {
			v, err := strconv.ParseBool(s)
			if err != nil {
				return c, fmt.Errorf("%s: %w", b.env, err)
			}
			*b.dst = v
		}
	}
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{"FLEETPROF_PERIOD", &c.Period}, {"FLEETPROF_CPU_DURATION", &c.CPUDuration}, {"FLEETPROF_METRICS_PERIOD", &c.MetricsPeriod}} {
		if s := os.Getenv(d.env); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil {
				return c, fmt.Errorf("%s: %w", d.env, err)
			}
			*d.dst = v
		}
	}
	return c, nil
}

// Stats are the agent's counters since Start.
type Stats struct {
	Enqueued       int64  // uploads handed to the buffer
	Uploaded       int64  // uploads that landed
	UploadedBytes  int64  // their bytes
	FailedAttempts int64  // PutObject calls that failed (each retry counts)
	Dropped        int64  // uploads dropped: buffer full on sustained failure, or unsent at Stop
	DroppedBytes   int64  // their bytes
	Rejected       int64  // uploads given up after non-retryable errors (e.g. 400)
	Spilled        int64  // uploads moved from memory to BufferDir
	Skipped        int64  // collections skipped (CPU profiler busy, profile errors)
	Panics         int64  // panics recovered inside the agent
	Pending        int    // uploads waiting in the buffer now
	PendingBytes   int64  // their bytes
	LastError      string // the most recent error, if any
}

// Agent is a running agent. Stop it once; Stats may be called any time.
type Agent struct {
	cfg     Config
	client  PutObjectAPI
	meta    map[string]string
	runID   string
	seq     atomic.Uint64
	stats   counters
	buf     *buffer
	logOnce sync.Once
	bundle  bundler // the period's members, when bundling
	// profiling: a profile loop runs; it closes each period's bundle (else the metrics loop does).
	profiling bool

	stopCollect chan struct{} // closed by Stop: collectors finish their current work and flush
	collectors  sync.WaitGroup
	drain       chan struct{} // closed after collectors stopped: uploader exits when empty
	hardStop    chan struct{} // closed when Stop's ctx expires: uploader exits now
	upCtx       context.Context
	upCancel    context.CancelFunc
	uploaderWG  sync.WaitGroup
	stopOnce    sync.Once
	stopErr     error

	setBlock  bool
	prevMutex int
	setMutex  bool
}

// Start validates cfg, builds the S3 client and starts collecting. It returns an error only for
// an invalid configuration; AWS problems surface later as failed uploads in Stats.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:         cfg,
		meta:        withProcess(contract.Metadata(cfg.Version, cfg.Labels)),
		runID:       randomID(),
		stopCollect: make(chan struct{}),
		drain:       make(chan struct{}),
		hardStop:    make(chan struct{}),
	}
	a.buf = newBuffer(cfg.MaxBufferBytes, cfg.MaxDiskBytes, cfg.BufferDir, &a.stats)
	a.client = cfg.S3
	if a.client == nil {
		c, err := newS3Client(ctx, cfg)
		if err != nil {
			return nil, err
		}
		a.client = c
	}
	a.upCtx, a.upCancel = context.WithCancel(context.Background())

	a.uploaderWG.Add(1)
	go a.uploader()

	var cpu bool
	var others []string
	for _, p := range cfg.Profiles {
		switch p {
		case "cpu":
			cpu = true
		case "block":
			if cfg.BlockProfileRate > 0 {
				runtime.SetBlockProfileRate(cfg.BlockProfileRate)
				a.setBlock = true
			}
			others = append(others, p)
		case "mutex":
			if cfg.MutexProfileFraction > 0 {
				a.prevMutex = runtime.SetMutexProfileFraction(cfg.MutexProfileFraction)
				a.setMutex = true
			}
			others = append(others, p)
		default:
			others = append(others, p)
		}
	}
	if cpu || len(others) > 0 {
		a.profiling = true
		a.collectors.Add(1)
		go a.profileLoop(cpu, others)
	}
	if cfg.MetricsPeriod > 0 {
		a.collectors.Add(1)
		go a.metricsLoop()
	}
	return a, nil
}

func (c *Config) normalize() error {
	if c.Bucket == "" {
		return errors.New("fleetprof agent: Config.Bucket is required")
	}
	if !contract.ValidName(c.Service) {
		return fmt.Errorf("fleetprof agent: Config.Service %q must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit", c.Service)
	}
	if c.Instance == "" {
		h, _ := os.Hostname()
		c.Instance = contract.SanitizeName(h)
		if c.Instance == "" {
			c.Instance = "unknown"
		}
	}
	if !contract.ValidName(c.Instance) {
		return fmt.Errorf("fleetprof agent: Config.Instance %q must be 1-128 characters of [A-Za-z0-9._-], starting with a letter or digit", c.Instance)
	}
	if err := contract.ValidateVersion(c.Version); err != nil {
		return fmt.Errorf("fleetprof agent: %w", err)
	}
	if err := contract.ValidateLabels(c.Labels); err != nil {
		return fmt.Errorf("fleetprof agent: %w", err)
	}
	if c.Profiles == nil {
		c.Profiles = DefaultProfiles
	}
	seen := map[string]bool{}
	for _, p := range c.Profiles {
		switch p {
		case "cpu", "heap", "allocs", "goroutine", "block", "mutex", "threadcreate":
		default:
			return fmt.Errorf("fleetprof agent: unknown profile %q (cpu, heap, allocs, goroutine, block, mutex, threadcreate)", p)
		}
		if seen[p] {
			return fmt.Errorf("fleetprof agent: profile %q listed twice", p)
		}
		seen[p] = true
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Period, DefaultPeriod)
	def(&c.CPUDuration, DefaultCPUDuration)
	def(&c.MetricsPeriod, DefaultMetricsPeriod)
	def(&c.UploadTimeout, DefaultUploadTimeout)
	def(&c.RetryMin, DefaultRetryMin)
	def(&c.RetryMax, DefaultRetryMax)
	if c.Period < 0 || c.CPUDuration < 0 || c.UploadTimeout < 0 || c.RetryMin < 0 || c.RetryMax < c.RetryMin {
		return errors.New("fleetprof agent: durations must be positive (and RetryMax >= RetryMin)")
	}
	if c.CPUDuration > c.Period {
		c.CPUDuration = c.Period
	}
	if c.BlockProfileRate == 0 {
		c.BlockProfileRate = DefaultBlockProfileRate
	}
	if c.MutexProfileFraction == 0 {
		c.MutexProfileFraction = DefaultMutexProfileFraction
	}
	if c.MaxBufferBytes <= 0 {
		c.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if c.MaxDiskBytes <= 0 {
		c.MaxDiskBytes = DefaultMaxDiskBytes
	}
	return nil
}

func newS3Client(ctx context.Context, cfg Config) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	ac, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("fleetprof agent: AWS config: %w", err)
	}
	if ac.Region == "" {
		ac.Region = "us-east-1" // S3 needs a region to sign; the bucket's own region is better (AWS_REGION)
	}
	return s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.UsePathStyle
		o.RetryMaxAttempts = 1 // the agent retries itself, with its own backoff and buffer
	}), nil
}

func randomID() string {
	var b [4]byte
	if _, err := cryptorand(b[:]); err != nil {
		return strconv.FormatUint(uint64(time.Now().UnixNano())&0xffffffff, 16)
	}
	return hex.EncodeToString(b[:])
}

var cryptorand = crand.Read

// Upload queues one object of the given kind and extension captured at start. The key gets a
// tag unique to this agent (run id + sequence), so retries overwrite, never duplicate. Used by the
// fleetprof-agent wrapper for gctrace batches; never blocks on the network.
func (a *Agent) Upload(kind, ext string, start time.Time, body []byte) error {
	return a.upload(kind, ext, start, body, a.meta)
}

func (a *Agent) upload(kind, ext string, start time.Time, body []byte, meta map[string]string) error {
	k := contract.Key{Service: a.cfg.Service, Instance: a.cfg.Instance, Start: start, Kind: kind, Ext: ext, Tag: a.newTag()}
	key, err := k.Format()
	if err != nil {
		return err
	}
	a.buf.push(key, meta, body)
	return nil
}

// withProcess adds this process's identity to an upload's metadata: counters of a new identity
// start a new series (docs/upload-contract.md).
func withProcess(m map[string]string) map[string]string {
	m[contract.MetaProcess] = ProcessID
	return m
}

// deltaMeta is the metadata of a counter profile sent as a delta.
func (a *Agent) deltaMeta() map[string]string {
	m := make(map[string]string, len(a.meta)+1)
	for k, v := range a.meta {
		m[k] = v
	}
	m[contract.MetaTemporality] = "delta"
	return m
}

// Stats returns the counters.
func (a *Agent) Stats() Stats {
	n, b := a.buf.pending()
	s := Stats{
		Enqueued: a.stats.enqueued.Load(), Uploaded: a.stats.uploaded.Load(), UploadedBytes: a.stats.uploadedBytes.Load(),
		FailedAttempts: a.stats.attemptsFailed.Load(), Dropped: a.stats.dropped.Load(), DroppedBytes: a.stats.droppedBytes.Load(),
		Rejected: a.stats.rejected.Load(), Spilled: a.stats.spilled.Load(), Skipped: a.stats.skipped.Load(),
		Panics: a.stats.panics.Load(), Pending: n, PendingBytes: b,
	}
	if v, ok := a.stats.lastErr.Load().(string); ok {
		s.LastError = v
	}
	return s
}

// Stop ends collection (a CPU profile in progress is cut short and uploaded, a last metrics
// snapshot is taken), then uploads what is buffered until ctx is done. Uploads still pending then
// are kept in BufferDir for the next start, or counted as dropped. It returns ctx's error when it
// had to give up with uploads pending. Safe to call more than once.
func (a *Agent) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		close(a.stopCollect)
		done := make(chan struct{})
		go func() { a.collectors.Wait(); close(done) }()
		select {
		case <-done:
			// The collectors' last profiles and metrics snapshot, as one last bundle.
			a.guard("bundle", a.flushBundle)
		case <-ctx.Done():
		}
		if a.setBlock {
			runtime.SetBlockProfileRate(0)
		}
		if a.setMutex {
			runtime.SetMutexProfileFraction(a.prevMutex)
		}
		close(a.drain)
		up := make(chan struct{})
		go func() { a.uploaderWG.Wait(); close(up) }()
		select {
		case <-up:
		case <-ctx.Done():
			close(a.hardStop)
			a.upCancel()
			<-up
		}
		a.upCancel()
		if n, _ := a.buf.pending(); n > 0 {
			a.buf.persistOrDrop()
			if ctx.Err() != nil {
				a.stopErr = fmt.Errorf("fleetprof agent: stopped with %d upload(s) pending: %w", n, ctx.Err())
			}
		}
	})
	return a.stopErr
}

// warn logs a rare diagnostic (slog key-value args) when a Logger is configured.
func (a *Agent) warn(msg string, args ...any) {
	if a.cfg.Logger != nil {
		a.cfg.Logger.Warn(msg, args...)
	}
}

// guard runs f, turning a panic into a counted error; it reports whether f panicked.
func (a *Agent) guard(where string, f func()) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			a.stats.panics.Add(1)
			a.stats.setErr(fmt.Errorf("panic in %s: %v", where, r))
			a.warn("fleetprof agent: recovered panic", "where", where, "panic", fmt.Sprint(r))
		}
	}()
	f()
	return false
}

func (a *Agent) uploader() {
	defer a.uploaderWG.Done()
	failures := 0
	for {
		select {
		case <-a.hardStop:
			return
		default:
		}
		var it *item
		var body []byte
		a.guard("upload", func() { it, body = a.buf.next() })
		if it == nil {
			select {
			case <-a.drain:
				if n, _ := a.buf.pending(); n == 0 {
					return
				}
				continue
			default:
			}
			select {
			case <-a.buf.notify:
			case <-a.drain:
			case <-a.hardStop:
				return
			}
			continue
		}
		var err error
		if a.guard("upload", func() { err = a.put(it, body) }) {
			err = errors.New("panic in upload")
		}
		if err == nil {
			a.buf.done(it, true)
			a.stats.uploaded.Add(1)
			a.stats.uploadedBytes.Add(int64(len(body)))
			failures = 0
			continue
		}
		a.stats.attemptsFailed.Add(1)
		a.stats.setErr(err)
		if failures == 0 {
			a.logOnce.Do(func() { a.warn("fleetprof agent: upload failed (will retry)", "err", err) })
		}
		it.attempts++
		if !retryable(err) && it.attempts >= permanentAttempts {
			a.buf.done(it, true)
			a.stats.rejected.Add(1)
			continue
		}
		a.buf.done(it, false)
		failures++
		if !a.sleep(a.backoff(failures)) {
			return
		}
	}
}

// backoff is exponential with "equal jitter": a random delay in [d/2, d), d = min(max, min*2^(n-1)).
func (a *Agent) backoff(n int) time.Duration {
	d := a.cfg.RetryMin
	for i := 1; i < n && d < a.cfg.RetryMax; i++ {
		d *= 2
	}
	if d > a.cfg.RetryMax {
		d = a.cfg.RetryMax
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// sleep waits d unless the agent is hard-stopped (false).
func (a *Agent) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.hardStop:
		return false
	}
}

func (a *Agent) put(it *item, body []byte) error {
	ctx, cancel := context.WithTimeout(a.upCtx, a.cfg.UploadTimeout)
	defer cancel()
	_, err := a.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(a.cfg.Bucket),
		Key:           aws.String(it.key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		Metadata:      it.meta,
	})
	return err
}

// retryable: throttling, server errors, timeouts and network errors, and 403/404 (a policy or
// bucket that is being deployed). Other 4xx (a request S3 will never accept) are not.
func retryable(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		code := re.HTTPStatusCode()
		if code >= 400 && code < 500 && code != 403 && code != 404 && code != 408 && code != 429 {
			return false
		}
	}
	return true
}

// newTag is the tag of profile and metrics uploads.
func (a *Agent) newTag() string {
	return a.runID + "-" + strconv.FormatUint(a.seq.Add(1), 10)
}

func (a *Agent) enqueue(kind, ext string, start time.Time, body []byte) {
	if err := a.Upload(kind, ext, start, body); err != nil {
		a.stats.skipped.Add(1)
		a.stats.setErr(err)
	}
}

// waitStop waits d or until Stop; false when stopping.
func (a *Agent) waitStop(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.stopCollect:
		return false
	}
}

func (a *Agent) stopping() bool {
	select {
	case <-a.stopCollect:
		return true
	default:
		return false
	}
}
