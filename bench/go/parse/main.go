// Command parse is the Go peer benchmark for fleetprof's TypeScript pprof
// decoder: it measures how fast github.com/google/pprof/profile.ParseData
// (the decoder behind `go tool pprof`) parses the given profile files.
//
//	parse [-seconds 3] [-gunzip] FILE...
//
// Every file is read into memory first; then, per file, ParseData is run
// repeatedly on the in-memory bytes until the time budget is used (at least
// 3 iterations). One JSON line is printed per file, plus a final line with
// "file":"*" aggregating all files (total bytes / total time).
//
// With -gunzip the same loop measures only gzip.NewReader + io.Copy(io.Discard)
// (context: how much of the parse time is decompression). Files that are not
// gzip-compressed are reported with an "error" field in that mode.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/pprof/profile"
)

const minIterations = 3

type result struct {
	File       string  `json:"file"`
	Mode       string  `json:"mode"`
	Bytes      int64   `json:"bytes"`
	Iterations int64   `json:"iterations"`
	MBPerS     float64 `json:"mb_per_s"`
	NsPerOp    float64 `json:"ns_per_op"`
	Samples    int     `json:"samples,omitempty"`
	OutBytes   int64   `json:"out_bytes,omitempty"`
	Error      string  `json:"error,omitempty"`
}

func main() {
	seconds := flag.Float64("seconds", 3, "time budget per file, in seconds")
	gunzip := flag.Bool("gunzip", false, "measure gzip.NewReader+io.Copy(io.Discard) instead of profile.ParseData")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-seconds 3] [-gunzip] FILE...\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || *seconds <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	budget := time.Duration(*seconds * float64(time.Second))
	mode := "parse"
	op := parseOnce
	if *gunzip {
		mode = "gunzip"
		op = gunzipOnce
	}

	// Read everything up front so that I/O is not measured.
	inputs := make([][]byte, flag.NArg())
	for i, name := range flag.Args() {
		b, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "parse:", err)
			os.Exit(1)
		}
		inputs[i] = b
	}

	enc := json.NewEncoder(os.Stdout)
	var totBytes, totIters int64
	var totElapsed time.Duration
	failed := false
	measured := make([]bool, len(inputs))
	for i, name := range flag.Args() {
		data := inputs[i]
		r := result{File: name, Mode: mode, Bytes: int64(len(data))}
		// One untimed call validates the input and reports its size.
		info, err := op(data)
		if err != nil {
			r.Error = err.Error()
			failed = true
			_ = enc.Encode(r)
			continue
		}
		r.Samples, r.OutBytes = info.samples, info.outBytes

		var n int64
		start := time.Now()
		var elapsed time.Duration
		for n < minIterations || elapsed < budget {
			if _, err := op(data); err != nil {
				fmt.Fprintln(os.Stderr, "parse:", name, err)
				os.Exit(1)
			}
			n++
			elapsed = time.Since(start)
		}
		r.Iterations = n
		r.NsPerOp = float64(elapsed.Nanoseconds()) / float64(n)
		r.MBPerS = float64(r.Bytes) * float64(n) / 1e6 / elapsed.Seconds()
		_ = enc.Encode(r)

		measured[i] = true
		totBytes += r.Bytes * n
		totIters += n
		totElapsed += elapsed
	}

	// The aggregate covers the files that were measured (not the failed ones).
	agg := result{File: "*", Mode: mode, Iterations: totIters}
	for i, b := range inputs {
		if measured[i] {
			agg.Bytes += int64(len(b))
		}
	}
	if totIters > 0 && totElapsed > 0 {
		// Aggregate throughput: all bytes parsed / all time spent parsing.
		agg.MBPerS = float64(totBytes) / 1e6 / totElapsed.Seconds()
		agg.NsPerOp = float64(totElapsed.Nanoseconds()) / float64(totIters)
	}
	_ = enc.Encode(agg)
	if failed {
		os.Exit(1)
	}
}

type opInfo struct {
	samples  int
	outBytes int64
}

func parseOnce(data []byte) (opInfo, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return opInfo{}, err
	}
	return opInfo{samples: len(p.Sample)}, nil
}

func gunzipOnce(data []byte) (opInfo, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		if err == gzip.ErrHeader {
			return opInfo{}, fmt.Errorf("not gzip-compressed (%v): legacy or uncompressed profile, nothing to gunzip", err)
		}
		return opInfo{}, err
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		return opInfo{}, err
	}
	return opInfo{outBytes: n}, zr.Close()
}
