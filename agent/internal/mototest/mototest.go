// Package mototest runs a moto_server (local AWS) for the agent's tests.
package mototest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is a running moto_server.
type Server struct {
	Endpoint string
	cmd      *exec.Cmd
}

// Start launches moto_server on a free loopback port, or returns a reason to skip.
func Start() (*Server, string, error) {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, "moto_server not on PATH (install moto[server] to run the S3 tests)", nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return s, "", nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Close()
	return nil, "", fmt.Errorf("moto_server did not answer on %s", s.Endpoint)
}

// Close stops the server (its process group: moto_server may fork a reloader).
func (s *Server) Close() {
	if s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// Client is an S3 client for the server (path style, dummy credentials).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// Env sets the AWS environment of the standard chain to the server (for code that builds its
// own client, such as the fleetprof-agent wrapper) and returns it as KEY=VALUE pairs.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "FLEETPROF_S3_PATH_STYLE=true",
	}
}

// Bucket creates a fresh bucket named after the test.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%1e6)
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Object is one stored object.
type Object struct {
	Key      string
	Metadata map[string]string
	Body     []byte
}

// Objects returns every object of the bucket with its metadata and body, sorted by key.
func (s *Server) Objects(t testing.TB, bucket string) []Object {
	t.Helper()
	ctx := context.Background()
	c := s.Client()
	var out []Object
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("get %s: %v", *o.Key, err)
			}
			b, _ := io.ReadAll(g.Body)
			g.Body.Close()
			out = append(out, Object{Key: *o.Key, Metadata: g.Metadata, Body: b})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Main runs a package's tests with a moto_server in *srv (nil when skipped: tests then call
// Require, which skips with the reason).
func Main(m interface{ Run() int }, srv **Server) int {
	s, reason, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mototest:", err)
		return 1
	}
	skipReason = reason
	*srv = s
	code := m.Run()
	if s != nil {
		s.Close()
	}
	return code
}

var skipReason string

// Require skips the test when moto_server is unavailable.
func Require(t testing.TB, s *Server) {
	t.Helper()
	if s == nil {
		t.Skip(skipReason)
	}
}
