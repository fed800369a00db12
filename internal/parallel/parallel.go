// Package parallel is gonixiso's one piece of parallel machinery: an ordered pipeline that runs
// a function on every core and hands its results back in the order the inputs were produced.
//
// Every parallel stage of gonixiso (block compression for each SquashFS compressor, hashing and
// reference scanning of store paths) goes through Ordered, so determinism has one home: the
// producer fixes the order of the work before any of it runs in parallel, and the consumer sees
// results in exactly that order whatever the number of workers. Memory is bounded by the window:
// at most that many items are between the producer and the consumer at any time.
package parallel

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// Options tune a pipeline.
type Options struct {
	// Workers is the number of goroutines running the work function (default GOMAXPROCS).
	Workers int
	// Window bounds the number of items produced but not yet consumed (default 4 × Workers).
	// It bounds memory: each item in flight holds its input or its output.
	Window int
}

func (o Options) normalize() Options {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Window < o.Workers {
		if o.Window <= 0 {
			o.Window = 4 * o.Workers
		} else {
			o.Window = o.Workers
		}
	}
	return o
}

// Ordered runs produce, which calls emit once per input in the order it chooses; work, on
// opts.Workers goroutines; and consume, on the calling goroutine, once per input in emit order
// with work's result. The first error from any of the three stops the pipeline (emit then
// returns it, so a producer can stop early) and is returned; ctx's cancellation does the same.
//
// work must not depend on which goroutine runs it or when; then the sequence consume sees depends
// only on what produce emitted.
func Ordered[In, Out any](ctx context.Context, opts Options,
	produce func(emit func(In) error) error,
	work func(In) (Out, error),
	consume func(Out) error,
) error {
	opts = opts.normalize()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	type slot struct {
		in   In
		out  Out
		err  error
		done chan struct{}
	}
	jobs := make(chan *slot)                   // producer → workers
	order := make(chan *slot, opts.Window)     // producer → consumer, in emit order
	tokens := make(chan struct{}, opts.Window) // bounds items in flight

	var wg sync.WaitGroup
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				s.out, s.err = work(s.in)
				close(s.done)
			}
		}()
	}

	var produceErr error
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		defer close(order)
		defer close(jobs)
		emit := func(in In) error {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			s := &slot{in: in, done: make(chan struct{})}
			// The consumer learns of the slot first, then a worker gets it: order is fixed
			// before the work starts.
			order <- s
			select {
			case jobs <- s:
				return nil
			case <-ctx.Done():
				// No worker will take it; let the consumer's wait end.
				s.err = context.Cause(ctx)
				close(s.done)
				return s.err
			}
		}
		if err := produce(emit); err != nil {
			produceErr = err
			cancel(err)
		}
	}()

	var consumeErr error
	for s := range order {
		if consumeErr != nil {
			<-s.done
			<-tokens
			continue
		}
		<-s.done
		switch {
		case s.err != nil:
			consumeErr = s.err
			cancel(s.err)
		case ctx.Err() != nil:
			consumeErr = context.Cause(ctx)
		default:
			if err := consume(s.out); err != nil {
				consumeErr = err
				cancel(err)
			}
		}
		// The slot is free only once consumed: the window bounds everything in flight.
		<-tokens
	}
	<-prodDone
	wg.Wait()

	switch {
	case produceErr != nil && !errors.Is(produceErr, context.Canceled):
		return produceErr
	case consumeErr != nil:
		return consumeErr
	case produceErr != nil:
		return produceErr
	}
	return ctx.Err()
}
