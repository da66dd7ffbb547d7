package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/pprof/profile"
)

// The fixture of test/fixtures/cumulative: successive cumulative snapshots of one process.
const cumFixture = "../test/fixtures/cumulative/run1"

func readSnap(t *testing.T, seq int, kind string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cumFixture, fmt.Sprintf("%02d_%s.pb.gz", seq, kind)))
	if err != nil {
		t.Skipf("fixture: %v", err)
	}
	return b
}

// flat per leaf function and sample type index: what `go tool pprof -top` prints as flat.
func flat(p *profile.Profile, i int) map[string]int64 {
	out := map[string]int64{}
	for _, s := range p.Sample {
		name := ""
		if len(s.Location) > 0 && len(s.Location[0].Line) > 0 {
			name = s.Location[0].Line[0].Function.Name
		}
		out[name] += s.Value[i]
	}
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

// Summing the agent's deltas over snapshots (b, l] gives exactly `pprof -base b l` on the counter
// types, and every delta keeps the snapshot's own gauge values.
func TestDeltasSumToBase(t *testing.T) {
	for _, kind := range []string{"allocs", "heap", "block", "mutex"} {
		deltaState.Lock()
		delete(deltaState.prev, kind)
		deltaState.Unlock()
		var deltas []*profile.Profile
		for seq := 1; seq <= 8; seq++ {
			b, ok, err := deltaProfile(kind, readSnap(t, seq, kind))
			if err != nil || !ok {
				t.Fatalf("%s %d: ok=%v err=%v", kind, seq, ok, err)
			}
			p, err := profile.ParseData(b)
			if err != nil {
				t.Fatal(err)
			}
			deltas = append(deltas, p)
		}
		for _, w := range [][2]int{{0, 3}, {3, 6}, {2, 8}, {5, 6}} {
			base, last := w[0], w[1]
			sum, err := profile.Merge(deltas[base:last])
			if err != nil {
				t.Fatal(err)
			}
			l, _ := profile.ParseData(readSnap(t, last, kind))
			want := l
			if base > 0 {
				b, _ := profile.ParseData(readSnap(t, base, kind))
				b.Scale(-1)
				if want, err = profile.Merge([]*profile.Profile{l, b}); err != nil {
					t.Fatal(err)
				}
			}
			for i, st := range l.SampleType {
				if !isCounterType(kind, st.Type) {
					continue
				}
				got, exp := flat(sum, i), flat(want, i)
				if fmt.Sprint(got) != fmt.Sprint(exp) {
					t.Errorf("%s %s (%d, %d]: deltas %v\n-base %v", kind, st.Type, base, last, got, exp)
				}
			}
		}
		// Gauges in a delta are the snapshot's own.
		if kind == "heap" {
			l, _ := profile.ParseData(readSnap(t, 8, kind))
			for i, st := range l.SampleType {
				if isCounterType(kind, st.Type) {
					continue
				}
				if got, exp := flat(deltas[7], i), flat(l, i); fmt.Sprint(got) != fmt.Sprint(exp) {
					t.Errorf("heap %s: delta %v, snapshot %v", st.Type, got, exp)
				}
			}
		}
	}
}
