package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// round times o for every tool that takes part, in this run's order.
func (b *bench) round(ctx context.Context, e *runEnv, o op, order []string, tools map[string]tool, broken map[string]string, run int) {
	pos := 0
	for _, name := range order {
		if spec, _ := specFor(name); !spec.supports(o) {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		pos++
		m := measurement{Shape: e.root.shape, SizeMiB: e.root.size, Run: run + 1, Position: pos, Tool: name, Op: o}
		if e.changed != nil && o.network() && !o.full() {
			m.Changed = e.changed
		}
		if why, ok := broken[name]; ok {
			m.Error = "skipped: " + why
		} else {
			b.measure(ctx, e, tools[name], &m)
		}
		if ctx.Err() != nil {
			return // interrupted: a half-run command is no measurement
		}
		if !m.ok() && o.full() {
			broken[name] = "its " + o.title() + " failed"
		}
		b.record(m)
	}
}

// measure prepares, times and checks one step.
func (b *bench) measure(ctx context.Context, e *runEnv, t tool, m *measurement) {
	st, err := t.step(ctx, m.Op)
	if err != nil {
		m.Error = err.Error()
		return
	}
	m.Command = st.cmd.String()
	before, _ := diskUsage(st.dest...)
	srv := b.serverFor(m.Op)
	var s0 serverSample
	if srv != nil {
		_ = srv.settle()
		s0 = srv.sample()
	}
	syscall.Sync() // nobody pays for another's write-back
	b.warmFor(ctx, e, st)
	m.Started = time.Now().UTC().Format(time.RFC3339)
	out := b.r.run(ctx, fmt.Sprintf("%s-%s-%s", e.label, m.Tool, m.Op), st.cmd)
	if srv != nil {
		if err := srv.settle(); err != nil {
			b.say("warning: %s %s: %v: bytes sent may be short", m.Tool, m.Op, err)
		}
		s1 := srv.sample()
		m.SentBytes, m.ReceivedBytes = s1.up-s0.up, s1.down-s0.down
		m.ServerCPUSeconds = (s1.cpu - s0.cpu).Seconds()
		if m.Op.s3() {
			r := s1.reqs.minus(s0.reqs)
			m.Requests = &r
		}
	}
	after, _ := diskUsage(st.dest...)
	m.WallSeconds = out.wall.Seconds()
	m.UserSeconds, m.SysSeconds = out.user.Seconds(), out.sys.Seconds()
	m.CPUPercent = cpuPercent(m.UserSeconds+m.SysSeconds, m.WallSeconds)
	m.MaxRSSKiB, m.IOWriteBytes = out.maxRSSKiB, out.ioWrite
	m.DiskGrowthBytes = after - before
	switch {
	case out.err != nil:
		m.Error = out.err.Error()
	case st.verify != nil:
		if err := st.verify(out, m); err != nil {
			m.Error = "after a clean exit: " + err.Error()
		}
	}
	for _, p := range st.cleanup {
		_ = os.RemoveAll(p)
	}
}

// server is the far end of the network operations, as a measurement
// sees it: the loopback sshd or the S3 server, each behind its proxy.
type server interface {
	// settle waits until every connection of the last command is closed
	// and counted.
	settle() error
	sample() serverSample
}

// serverSample is what a server has seen so far; a measurement is the
// difference of two.
type serverSample struct {
	up, down int64         // bytes client to server, server to client
	cpu      time.Duration // the server processes' CPU time
	reqs     requestCounts // HTTP requests (S3 only)
}

// serverFor is the server of o; nil for a local operation.
func (b *bench) serverFor(o op) server {
	switch {
	case o.sftp():
		return b.net
	case o.s3():
		return b.s3
	}
	return nil
}

// record prints one measurement and keeps it when its operation is chosen.
func (b *bench) record(m measurement) {
	if !m.ok() {
		b.failures++
		b.say("FAILED %s %s (%s %d MiB, run %d): %s", m.Tool, m.Op.title(), m.Shape, m.SizeMiB, m.Run, m.Error)
	} else {
		where := fmt.Sprintf("%s %d MiB run %d: %-16s %-10s", m.Shape, m.SizeMiB, m.Run, m.Op.title(), m.Tool)
		line := fmt.Sprintf("%s %7.2f s  cpu %6.2f s (%3.0f%%)  rss %6.1f MiB  written %8.1f MiB",
			where, m.WallSeconds, m.cpuSeconds(), m.CPUPercent, float64(m.MaxRSSKiB)/1024, mib(float64(m.DiskGrowthBytes)))
		if m.Op.network() {
			line += fmt.Sprintf("  sent %8.1f MiB", mib(float64(m.SentBytes)))
		}
		if m.Requests != nil {
			line += fmt.Sprintf("  requests %d (PUT %d, COPY %d)", m.Requests.Total, m.Requests.Put, m.Requests.Copy)
		}
		b.say("%s", line)
	}
	if b.selected(m.Op) {
		b.res.Measurements = append(b.res.Measurements, m)
	}
}

func mib(bytes float64) float64 { return bytes / (1 << 20) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// warmFor gives every command the same start: the page cache emptied
// (when this process may: root) and then filled with the live root and
// what the command reads and writes in place (its repository, the copy it
// restores over). Without it, a tool paid for reclaiming the pages the
// tools before it had filled (up to 2x wall time at 1 GiB late in a run's
// order), and whether its inputs were still cached depended on the order.
func (b *bench) warmFor(ctx context.Context, e *runEnv, st *step) {
	if b.dropCaches {
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1\n"), 0); err != nil {
			b.dropCaches = false
			b.say("warning: cannot drop the page cache before each command (%v): tools may pay for each other's cache", err)
		}
	}
	dirs := append(append(append([]string{}, e.root.sources()...), st.dest...), st.reads...)
	if err := warm(ctx, dirs...); err != nil {
		b.say("warning: %v", err)
	}
}
