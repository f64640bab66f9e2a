package knoten

// HoldSpins keeps taps waiting, as if as many batches as may run at once were being written,
// until release: the taps that arrive meanwhile are then written as one batch (up to its
// bound). waiting says how many wait.
func HoldSpins(s *Service) (waiting func() int, release func()) {
	q := &s.spins
	q.mu.Lock()
	q.running += spinBatchesRunning
	q.mu.Unlock()
	waiting = func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		return len(q.waiting)
	}
	release = func() {
		q.mu.Lock()
		q.running -= spinBatchesRunning
		s.startSpinBatches()
		q.mu.Unlock()
	}
	return waiting, release
}
