package enroll

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeEnroller stands in for certs.Manager at a seam no component is named
// for: it records concurrency and answers by address.
type fakeEnroller struct {
	mu         sync.Mutex
	running    int
	maxRunning int
	calls      atomic.Int32
	release    chan struct{}
}

func (f *fakeEnroller) Enroll(ctx context.Context, email string) (bool, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.running++
	f.maxRunning = max(f.maxRunning, f.running)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()
	if f.release != nil {
		<-f.release
	}
	switch {
	case strings.HasPrefix(email, "old"):
		return false, nil
	case strings.HasPrefix(email, "bad"):
		return false, errors.New("refused")
	}
	return true, nil
}

func TestRunCountsAndBoundsWorkers(t *testing.T) {
	var addrs []string
	for i := range 40 {
		switch i % 4 {
		case 0:
			addrs = append(addrs, "old"+string(rune('a'+i)))
		case 1:
			addrs = append(addrs, "bad"+string(rune('a'+i)))
		default:
			addrs = append(addrs, "new"+string(rune('a'+i)))
		}
	}
	f := &fakeEnroller{release: make(chan struct{})}
	var done atomic.Int32
	total := 0
	go func() {
		for range addrs {
			f.release <- struct{}{}
		}
	}()
	r := Run(context.Background(), f, addrs, Options{Workers: 3, Start: func(n int) { total = n }, Done: func() { done.Add(1) }})
	if r.Enrolled != 20 || r.Already != 10 || len(r.Failed) != 10 {
		t.Fatalf("result = %s", r.Summary())
	}
	if f.maxRunning > 3 {
		t.Fatalf("%d enrolments ran at once with 3 workers", f.maxRunning)
	}
	if total != 40 || done.Load() != 40 {
		t.Fatalf("progress: start %d, done %d", total, done.Load())
	}
	if r.Failed[0].Address != addrs[1] || r.Failed[0].Err == nil {
		t.Fatalf("first failure = %+v", r.Failed[0])
	}
}

func TestRunStoppedRecordsTheRest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeEnroller{release: make(chan struct{})}
	addrs := []string{"new1", "new2", "new3", "new4", "new5"}
	go func() {
		f.release <- struct{}{}
		cancel()
		for range addrs {
			select {
			case f.release <- struct{}{}:
			default:
			}
		}
		close(f.release)
	}()
	r := Run(ctx, f, addrs, Options{Workers: 1})
	if got := r.Enrolled + r.Already + len(r.Failed); got != len(addrs) {
		t.Fatalf("accounted for %d of %d addresses", got, len(addrs))
	}
	if len(r.Failed) == 0 || int(f.calls.Load()) == len(addrs) {
		t.Fatalf("a stopped run attempted everything: %s, calls %d", r.Summary(), f.calls.Load())
	}
	for _, fl := range r.Failed {
		if !errors.Is(fl.Err, context.Canceled) {
			t.Fatalf("failure %+v is not the cancellation", fl)
		}
	}
}
