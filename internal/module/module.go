// Package module runs a set of services chosen by name from one dependency
// table: start in dependency order, stop in reverse, and one failure stops
// everything (the shape of grafana/dskit's modules, with river's smaller
// start/stop contract).
package module

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"
)

// Service is what an init func returns. Start returns once the service is
// ready and runs its own loops in the background until Stop; Stop blocks until
// resources are released or ctx expires. Stop must tolerate being called
// without Start, and twice.
type Service interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Failer is implemented by services whose background loops can fail after
// Start: a value on the channel stops the whole process.
type Failer interface {
	Failed() <-chan error
}

// InitFunc builds a module's service; it returns nil when the module has
// nothing to run (a pure library or a hidden infrastructure step).
type InitFunc func() (Service, error)

type entry struct {
	init      InitFunc
	deps      []string
	invisible bool
}

// Manager holds the module table.
type Manager struct {
	modules map[string]*entry
	logger  *slog.Logger
}

// New returns an empty Manager.
func New(logger *slog.Logger) *Manager {
	return &Manager{modules: map[string]*entry{}, logger: logger}
}

// Register adds a module. Invisible modules are infrastructure: they can be
// dependencies but not targets chosen by users.
func (m *Manager) Register(name string, init InitFunc, invisible bool) {
	m.modules[name] = &entry{init: init, invisible: invisible}
}

// AddDependency declares that name needs deps started first.
func (m *Manager) AddDependency(name string, deps ...string) error {
	e, ok := m.modules[name]
	if !ok {
		return fmt.Errorf("module: unknown module %q", name)
	}
	for _, d := range deps {
		if _, ok := m.modules[d]; !ok {
			return fmt.Errorf("module: %q depends on unknown module %q", name, d)
		}
	}
	e.deps = append(e.deps, deps...)
	return nil
}

// UserVisible lists the modules a user may name, sorted.
func (m *Manager) UserVisible() []string {
	var out []string
	for n, e := range m.modules {
		if !e.invisible {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// CheckTargets fails unless every name is a user-visible module (a role).
func (m *Manager) CheckTargets(names ...string) error {
	for _, t := range names {
		if e, ok := m.modules[t]; !ok || e.invisible {
			return fmt.Errorf("unknown role %q (valid roles: %v)", t, m.UserVisible())
		}
	}
	return nil
}

// Resolve returns targets and all their transitive dependencies in start
// order (every module after its dependencies; ties broken by name for a
// stable order). It fails on unknown targets and on cycles.
func (m *Manager) Resolve(targets ...string) ([]string, error) {
	for _, t := range targets {
		if _, ok := m.modules[t]; !ok {
			return nil, fmt.Errorf("module: unknown module %q (valid roles: %v)", t, m.UserVisible())
		}
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var order []string
	var visit func(n string, path []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module: dependency cycle: %v", append(path, n))
		}
		state[n] = visiting
		deps := slices.Clone(m.modules[n].deps)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
		}
		state[n] = done
		order = append(order, n)
		return nil
	}
	ts := slices.Clone(targets)
	sort.Strings(ts)
	for _, t := range ts {
		if err := visit(t, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Run initialises and starts targets and their dependencies in order, then
// waits for ctx to end or a service to fail, then stops every started service
// in reverse order, each under stopTimeout. It returns the first failure
// (nil on a clean shutdown).
func (m *Manager) Run(ctx context.Context, stopTimeout time.Duration, targets ...string) error {
	return m.RunNotify(ctx, stopTimeout, nil, targets...)
}

// RunNotify is Run, calling onStarted (when non-nil) once every service has
// started.
func (m *Manager) RunNotify(ctx context.Context, stopTimeout time.Duration, onStarted func(), targets ...string) error {
	order, err := m.Resolve(targets...)
	if err != nil {
		return err
	}
	type started struct {
		name string
		svc  Service
	}
	var running []started
	stopAll := func() error {
		var errs []error
		for i := len(running) - 1; i >= 0; i-- {
			s := running[i]
			sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			t0 := time.Now()
			if err := s.svc.Stop(sctx); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
				m.logger.Error("module stop failed", "module", s.name, "err", err)
			} else {
				m.logger.Info("module stopped", "module", s.name, "took", time.Since(t0).Round(time.Millisecond).String())
			}
			cancel()
		}
		return errors.Join(errs...)
	}
	failed := make(chan error, len(order))
	for _, name := range order {
		svc, err := m.modules[name].init()
		if err != nil {
			_ = stopAll()
			return fmt.Errorf("init %s: %w", name, err)
		}
		if svc == nil {
			continue
		}
		t0 := time.Now()
		if err := svc.Start(ctx); err != nil {
			_ = svc.Stop(context.Background())
			_ = stopAll()
			return fmt.Errorf("start %s: %w", name, err)
		}
		m.logger.Info("module started", "module", name, "took", time.Since(t0).Round(time.Millisecond).String())
		running = append(running, started{name, svc})
		if f, ok := svc.(Failer); ok {
			go func(name string, ch <-chan error) {
				select {
				case err := <-ch:
					if err != nil {
						failed <- fmt.Errorf("%s failed: %w", name, err)
					}
				case <-ctx.Done():
				}
			}(name, f.Failed())
		}
	}
	if onStarted != nil {
		onStarted()
	}
	var runErr error
	select {
	case <-ctx.Done():
		m.logger.Info("shutting down", "reason", context.Cause(ctx).Error())
	case runErr = <-failed:
		m.logger.Error("module failed, stopping", "err", runErr)
	}
	stopErr := stopAll()
	if runErr != nil {
		return runErr
	}
	return stopErr
}

// FuncService adapts two functions to a Service; nil funcs do nothing.
type FuncService struct {
	StartFunc func(ctx context.Context) error
	StopFunc  func(ctx context.Context) error
}

// Start calls StartFunc.
func (f FuncService) Start(ctx context.Context) error {
	if f.StartFunc == nil {
		return nil
	}
	return f.StartFunc(ctx)
}

// Stop calls StopFunc.
func (f FuncService) Stop(ctx context.Context) error {
	if f.StopFunc == nil {
		return nil
	}
	return f.StopFunc(ctx)
}
