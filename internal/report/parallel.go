package report

import (
	"context"
	goruntime "runtime"
	"sync"
)

// eachParallel calls do(i) for every i below n, spread over the cores (bootstraps and
// chart rendering dominate a report). It stops handing out work when ctx ends and then
// returns ctx's error.
func eachParallel(ctx context.Context, n int, do func(i int)) error {
	var wg sync.WaitGroup
	next := make(chan int)
	for range goruntime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				do(i)
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return ctx.Err()
}
