package queue

import "math/rand/v2"

// newRand returns a draw function for Choice.Rand, seeded (tests) or not (seed 0).
func newRand(seed uint64) func(n int) int {
	var r *rand.Rand
	if seed == 0 {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	} else {
		r = rand.New(rand.NewPCG(seed, seed))
	}
	return func(n int) int {
		if n <= 0 {
			return 0
		}
		return r.IntN(n)
	}
}
