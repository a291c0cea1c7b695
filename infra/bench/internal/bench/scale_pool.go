package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/certain-marketo/certain-marketo/lib/testkit/memqueue"
)

// pool plays one queue's event source mapping with K concurrent instances
// of its function: each takes a batch (up to batch messages; with a
// batching window it waits up to window for a full one, as Lambda's poller
// does), invokes its handler with the SQS event under the function's
// timeout, settles the batch with the handler's partial batch response,
// and gives back its budgets, as lib/app does after every invocation. An
// invocation that fails leaves its messages hidden until their visibility
// ends, as Lambda does.
type pool struct {
	name    string
	q       *memqueue.Queue
	batch   int
	window  time.Duration
	timeout time.Duration
	procs   []process

	inflight atomic.Int64
	busy     atomic.Int64 // nanoseconds of invocations
	invokes  atomic.Int64
	failed   atomic.Int64 // messages reported failed or in a failed invocation
	mu       sync.Mutex
	errs     []string
}

// pollEvery is how soon an idle instance looks at its queue again (Lambda's
// pollers long-poll, so a message is taken within milliseconds).
const pollEvery = 20 * time.Millisecond

func (p *pool) fail(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) < 20 {
		p.errs = append(p.errs, p.name+": "+fmt.Sprintf(format, a...))
	}
}

// run serves the queue until ctx ends.
func (p *pool) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range p.procs {
		wg.Go(func() { p.serve(ctx, p.procs[i]) })
	}
	wg.Wait()
}

func (p *pool) serve(ctx context.Context, pr process) {
	for ctx.Err() == nil {
		ev := p.receive(ctx)
		if len(ev.Records) == 0 {
			sleep(ctx, pollEvery)
			continue
		}
		p.inflight.Add(1)
		p.invoke(ctx, pr, ev)
		p.inflight.Add(-1)
	}
}

// receive takes up to batch messages; with a batching window, it keeps
// taking until the batch is full or the window since the first ends.
func (p *pool) receive(ctx context.Context) events.SQSEvent {
	ev := p.q.Receive(p.batch)
	if len(ev.Records) == 0 || p.window <= 0 {
		return ev
	}
	until := time.Now().Add(p.window)
	for len(ev.Records) < p.batch && time.Now().Before(until) && ctx.Err() == nil {
		sleep(ctx, pollEvery)
		more := p.q.Receive(p.batch - len(ev.Records))
		ev.Records = append(ev.Records, more.Records...)
	}
	return ev
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (p *pool) invoke(ctx context.Context, pr process, ev events.SQSEvent) {
	raw, err := json.Marshal(ev)
	if err != nil {
		p.fail("encode: %v", err)
		return
	}
	ictx, cancel := context.WithTimeout(ctx, p.timeout)
	t0 := time.Now()
	out, err := pr.h.Invoke(ictx, raw)
	p.busy.Add(int64(time.Since(t0)))
	p.invokes.Add(1)
	cancel()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	if cerr := pr.conn.ReleaseBudgets(rctx); cerr != nil {
		p.fail("release budgets: %v", cerr)
	}
	var resp events.SQSEventResponse
	if err == nil {
		err = json.Unmarshal(out, &resp)
	}
	if err != nil {
		p.failed.Add(int64(len(ev.Records)))
		p.fail("invocation: %v", err)
		return // the messages come back after their visibility timeout
	}
	p.q.Settle(ev, resp)
	if n := len(resp.BatchItemFailures); n > 0 {
		p.failed.Add(int64(n))
		p.fail("%d of %d messages reported failed", n, len(ev.Records))
	}
}

// drained waits until every pool's queue is empty and no invocation is in
// flight, twice in a row half a second apart, or ctx ends; every 15 s it
// logs the queues and status().
func drained(ctx context.Context, logf func(string, ...any), status func() string, pools ...*pool) error {
	quiet := 0
	last := time.Now()
	for quiet < 2 {
		select {
		case <-ctx.Done():
			return errors.New("the queues did not drain in time")
		case <-time.After(500 * time.Millisecond):
		}
		busy := false
		for _, p := range pools {
			if p.q.Len() > 0 || p.inflight.Load() > 0 {
				busy = true
			}
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
		if time.Since(last) >= 15*time.Second {
			last = time.Now()
			for _, p := range pools {
				logf("scale:   %s: %d messages, %d invocations running, %d done", p.name, p.q.Len(), p.inflight.Load(), p.invokes.Load())
			}
			logf("scale:   %s", status())
		}
	}
	return nil
}
