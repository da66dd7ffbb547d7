package agent

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/google/pprof/profile"
)

// Counter profiles as deltas (docs/upload-contract.md, x-amz-meta-temporality: delta).
//
// Go's allocs, block and mutex profiles, and the alloc_* sample types of heap, count since process
// start. The agent uploads what each period added, as godeltaprof does: the snapshot minus the
// previous snapshot of the same kind, sample by sample. Gauge sample types (inuse_*) stay as they
// are. The result equals `go tool pprof -base <previous> <current>` for the counter types, so a
// window summed from deltas equals the query side's -base over cumulative snapshots exactly.
//
// Why google/pprof's profile package and not godeltaprof: godeltaprof replaces the runtime's
// profile writers (it re-implements heap/block/mutex writing from runtime internals), which would
// make the agent's snapshots differ from what `pprof.Lookup(kind).WriteTo` and net/http/pprof
// write; differencing the runtime's own output with pprof's own Scale+Merge (what net/http/pprof's
// ?seconds=N handler does) keeps every value identical to the oracle's.
//
// The previous snapshots are kept per process (package level), not per Agent: an agent stopped
// and started again in the same process continues from the last snapshot instead of uploading
// everything since process start a second time.

// ProcessID identifies this process in uploads (x-amz-meta-process): random per process start.
var ProcessID = randomID() + randomID()

var deltaState = struct {
	sync.Mutex
	prev map[string]*profile.Profile
}{prev: map[string]*profile.Profile{}}

// counterKinds are the kinds with counter sample types.
var counterKinds = map[string]bool{"allocs": true, "heap": true, "block": true, "mutex": true}

// isCounterType: heap/allocs alloc_*, and every block/mutex type.
func isCounterType(kind, sampleType string) bool {
	if kind == "heap" || kind == "allocs" {
		return strings.HasPrefix(sampleType, "alloc_")
	}
	return kind == "block" || kind == "mutex"
}

// deltaProfile turns a cumulative snapshot of kind (gzipped or raw pprof) into the increase since
// the previous snapshot of that kind taken in this process (the whole snapshot the first time),
// written as gzipped pprof. Kinds without counters are returned unchanged (ok false).
func deltaProfile(kind string, snapshot []byte) (out []byte, ok bool, err error) {
	if !counterKinds[kind] {
		return snapshot, false, nil
	}
	cur, err := profile.ParseData(snapshot)
	if err != nil {
		return nil, false, fmt.Errorf("%s snapshot: %w", kind, err)
	}
	deltaState.Lock()
	prev := deltaState.prev[kind]
	deltaState.prev[kind] = cur.Copy()
	deltaState.Unlock()
	d, err := subtract(kind, cur, prev)
	if err != nil {
		return nil, false, err
	}
	var buf bytes.Buffer
	if err := d.Write(&buf); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}

// subtract returns cur minus prev on the counter sample types (gauges kept from cur). prev nil or
// incompatible (other sample types): cur itself, the increase since process start.
func subtract(kind string, cur, prev *profile.Profile) (*profile.Profile, error) {
	if prev == nil || len(prev.SampleType) != len(cur.SampleType) {
		return cur, nil
	}
	ratios := make([]float64, len(cur.SampleType))
	for i, st := range cur.SampleType {
		if prev.SampleType[i].Type != st.Type {
			return cur, nil
		}
		if isCounterType(kind, st.Type) {
			ratios[i] = -1
		}
	}
	neg := prev.Copy()
	if err := neg.ScaleN(ratios); err != nil {
		return nil, err
	}
	d, err := profile.Merge([]*profile.Profile{cur, neg})
	if err != nil {
		return nil, fmt.Errorf("%s delta: %w", kind, err)
	}
	d.TimeNanos = cur.TimeNanos
	d.DurationNanos = cur.TimeNanos - prev.TimeNanos
	return d, nil
}
