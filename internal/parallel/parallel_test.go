package parallel

import (
	"context"
	"errors"
	"math/rand"
	"sync/atomic"
	"testing"
	"time"
)

func TestOrderedKeepsOrder(t *testing.T) {
	for _, workers := range []int{1, 2, 7, 16} {
		var got []int
		err := Ordered(context.Background(), Options{Workers: workers},
			func(emit func(int) error) error {
				for i := 0; i < 500; i++ {
					if err := emit(i); err != nil {
						return err
					}
				}
				return nil
			},
			func(i int) (int, error) {
				time.Sleep(time.Duration(rand.Intn(200)) * time.Microsecond)
				return i * i, nil
			},
			func(v int) error { got = append(got, v); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 500 {
			t.Fatalf("workers=%d: %d results, want 500", workers, len(got))
		}
		for i, v := range got {
			if v != i*i {
				t.Fatalf("workers=%d: result %d = %d, want %d", workers, i, v, i*i)
			}
		}
	}
}

func TestOrderedBoundsWindow(t *testing.T) {
	var inFlight, peak atomic.Int64
	err := Ordered(context.Background(), Options{Workers: 4, Window: 6},
		func(emit func(int) error) error {
			for i := 0; i < 200; i++ {
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				if err := emit(i); err != nil {
					return err
				}
			}
			return nil
		},
		func(i int) (int, error) { return i, nil },
		func(int) error {
			time.Sleep(50 * time.Microsecond)
			inFlight.Add(-1)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	// One item may be counted by the producer before emit blocks on the full window.
	if p := peak.Load(); p > 7 {
		t.Fatalf("peak items in flight %d, want at most window+1 = 7", p)
	}
}

func TestOrderedErrors(t *testing.T) {
	boom := errors.New("boom")
	count := func(fail string) error {
		return Ordered(context.Background(), Options{Workers: 3},
			func(emit func(int) error) error {
				for i := 0; ; i++ {
					if fail == "produce" && i == 50 {
						return boom
					}
					if err := emit(i); err != nil {
						return err
					}
					if i == 10000 {
						return nil
					}
				}
			},
			func(i int) (int, error) {
				if fail == "work" && i == 50 {
					return 0, boom
				}
				return i, nil
			},
			func(i int) error {
				if fail == "consume" && i == 50 {
					return boom
				}
				return nil
			})
	}
	for _, stage := range []string{"produce", "work", "consume"} {
		if err := count(stage); !errors.Is(err, boom) {
			t.Errorf("%s fails: Ordered returned %v, want boom", stage, err)
		}
	}
	if err := count(""); err != nil {
		t.Errorf("no failure: %v", err)
	}
}

func TestOrderedCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := Ordered(ctx, Options{Workers: 2},
		func(emit func(int) error) error {
			for i := 0; ; i++ {
				if err := emit(i); err != nil {
					return err
				}
			}
		},
		func(i int) (int, error) { return i, nil },
		func(int) error {
			n++
			if n == 100 {
				cancel()
			}
			return nil
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
