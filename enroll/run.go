package enroll

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Enroller issues a certificate for one address unless it already has a
// usable one (certs.Manager.Enroll).
type Enroller interface {
	Enroll(ctx context.Context, email string) (issued bool, err error)
}

// Options tune Run.
type Options struct {
	// Workers is how many addresses are enrolled at once; key generation
	// is CPU-bound, so more than the number of cores gains nothing.
	// 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Start, when set, is told how many addresses the run has.
	Start func(total int)
	// Done, when set, is called once per address after it was handled
	// (from the worker goroutines; it must be safe for concurrent use).
	Done func()
}

// Result sums up one enrolment run.
type Result struct {
	Enrolled, Already int
	Failed            []Failure // in input order
	Took              time.Duration
}

// Summary is the one log line of a run.
func (r Result) Summary() string {
	return fmt.Sprintf("enrolled %d, already had %d, failed %d in %s", r.Enrolled, r.Already, len(r.Failed), r.Took.Round(time.Millisecond))
}

// Run enrols addrs with a bounded pool of workers. An address that fails
// is recorded and the run goes on; when ctx ends, the addresses not yet
// started are recorded as failed with ctx's error, so a retry picks them up.
func Run(ctx context.Context, e Enroller, addrs []string, o Options) Result {
	start := time.Now()
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(addrs), 1))
	if o.Start != nil {
		o.Start(len(addrs))
	}
	type outcome struct {
		issued bool
		err    error
	}
	out := make([]outcome, len(addrs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				issued, err := e.Enroll(ctx, addrs[i])
				out[i] = outcome{issued, err}
				if o.Done != nil {
					o.Done()
				}
			}
		}()
	}
	fed := 0
feed:
	for ; fed < len(addrs); fed++ {
		select {
		case next <- fed:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i := fed; i < len(addrs); i++ {
		out[i] = outcome{err: fmt.Errorf("not attempted: %w", ctx.Err())}
	}
	var r Result
	for i, o := range out {
		switch {
		case o.err != nil:
			r.Failed = append(r.Failed, Failure{Address: addrs[i], Reason: o.err.Error(), Err: o.err})
		case o.issued:
			r.Enrolled++
		default:
			r.Already++
		}
	}
	r.Took = time.Since(start)
	return r
}
