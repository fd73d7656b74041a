// Package notify is the notification role: background work that must not
// sit on the chat path. Today it drains the transactional outbox that every
// change writes (message.created, conversation.created/updated) and hands
// each event to the registered handlers; webhooks, e-mail and in-app alerts
// plug in here as handlers (ROADMAP: notification worker).
package notify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/enkisys/chorus/internal/chorus"
)

// Defaults.
const (
	IntervalDefault  = 100 * time.Millisecond
	BatchSizeDefault = 100
)

// Handler processes one outbox event. An error keeps the event for a retry.
type Handler func(ctx context.Context, ev chorus.OutboxEvent) error

// Worker drains the outbox. Several notify processes may run against one
// database: the store lets one drain at a time (OutboxDrain), so events are
// handled in order, and the others take over when it stops.
type Worker struct {
	store    chorus.OutboxStore
	handlers []Handler
	interval time.Duration
	batch    int
	logger   *slog.Logger

	processed *prometheus.CounterVec
	failures  prometheus.Counter
	lag       prometheus.Gauge

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a worker; handlers run in order for every event.
func New(store chorus.OutboxStore, reg prometheus.Registerer, logger *slog.Logger, handlers ...Handler) *Worker {
	w := &Worker{
		store: store, handlers: handlers, interval: IntervalDefault, batch: BatchSizeDefault, logger: logger,
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chorus_outbox_processed_total", Help: "Outbox events processed, by kind."}, []string{"kind"}),
		failures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_outbox_failures_total", Help: "Outbox events whose handler failed (kept for retry)."}),
		lag:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "chorus_outbox_lag_seconds", Help: "Age of the oldest outbox event at the last drain."}),
	}
	if reg != nil {
		reg.MustRegister(w.processed, w.failures, w.lag)
	}
	return w
}

// ProcessedMetric is the counter of processed events by kind (for tests).
func (w *Worker) ProcessedMetric() *prometheus.CounterVec { return w.processed }

// Start runs the drain loop in the background.
func (w *Worker) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(w.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for {
				n, err := w.Drain(ctx)
				if err != nil {
					if ctx.Err() == nil {
						w.logger.Warn("outbox drain failed", "err", err)
					}
					break
				}
				if n < w.batch {
					break
				}
			}
		}
	}()
	return nil
}

// Stop ends the loop and waits for it.
func (w *Worker) Stop(ctx context.Context) error {
	if w.cancel != nil {
		w.cancel()
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drain processes one batch and returns how many events it was handed (0
// also when another worker is draining).
func (w *Worker) Drain(ctx context.Context) (int, error) {
	n, err := w.store.OutboxDrain(ctx, w.batch, func(evs []chorus.OutboxEvent) []int64 {
		w.lag.Set(time.Since(evs[0].CreatedAt).Seconds())
		done := make([]int64, 0, len(evs))
		for _, ev := range evs {
			for _, h := range w.handlers {
				if err := h(ctx, ev); err != nil {
					w.failures.Inc()
					w.logger.Warn("outbox handler failed", "kind", ev.Kind, "outbox_id", ev.ID, "err", err)
					return done // keep order: retry from here on the next tick
				}
			}
			w.processed.WithLabelValues(ev.Kind).Inc()
			done = append(done, ev.ID)
		}
		return done
	})
	if err == nil && n == 0 {
		w.lag.Set(0)
	}
	return n, err
}
