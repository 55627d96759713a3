// Package memlimit hands the container's memory limit to the Go runtime.
//
// A Go program does not know that it runs in a container with a memory
// limit. Its garbage collector paces itself on GOGC alone: with GOGC=100
// the heap may grow to twice the live data before a collection, so a
// service whose live heap is 40 MiB in a 64 MiB container is killed by the
// kernel's OOM killer (exit 137, no log line, no stack) even though half of
// what it holds is garbage it would gladly have collected. GOMEMLIMIT fixes
// that: near the limit the collector runs more often instead of letting the
// heap grow. But nothing sets GOMEMLIMIT from the cgroup: the runtime reads
// cgroup CPU limits for GOMAXPROCS (since Go 1.25) and nothing for memory,
// and repeating the number in every Deployment and compose file is a number
// that drifts from the real limit at the first resize.
//
// # What Apply does
//
// [Apply] is called once, early in main. When GOMEMLIMIT is set it
// leaves the runtime's value alone (the operator decided). Otherwise it
// reads the memory limit of the process's cgroup: cgroup v2's memory.max
// (the smallest along the path to the root, as the kernel enforces), else
// cgroup v1's memory.limit_in_bytes and hierarchical_memory_limit, and sets
// the runtime's soft limit to 90% of it.
//
// # Following a resize
//
// A container's memory limit can change while the process runs:
// Kubernetes' in-place pod resize (on by default since 1.33) and `docker
// update --memory` rewrite the cgroup file, and a GOMEMLIMIT decided once
// at start would stay at the old share for good (above the new limit
// after a shrink, a third of the memory unused after a raise). [Follow]
// reads the limit again every 10 s (the bound is 30 s) until its context
// ends, applies the new share, and logs "memory limit changed" with the
// old and new values; the value in force is the Go collector's
// go_gc_gomemlimit_bytes on /metrics. It follows nothing when GOMEMLIMIT
// is set, and stops when the program set the runtime's limit itself.
//
// # Why 90%
//
// GOMEMLIMIT counts the memory the Go runtime manages (heap, goroutine
// stacks, runtime metadata), not everything the kernel charges to the
// cgroup: the mapped executable, page cache from files the process reads
// and writes, kernel memory for sockets. A tenth of the limit is left for
// those. A soft limit is not a promise: a live heap larger than the limit
// still grows, and the collector's CPU use is capped so it cannot spin
// forever; what the limit buys is that garbage is collected before it
// kills the process.
//
// # Parsing
//
// The cgroup files are read defensively: "max", an empty or garbled file,
// a number too large for int64 and cgroup v1's "unlimited"
// (9223372036854771712) all mean "no limit", and the runtime is left as it
// was.
//
// # What it reports
//
// Apply returns a [Result]: the limit now in force, its [Source]
// (GOMEMLIMIT, cgroup or none) and the cgroup's own limit, read even when
// GOMEMLIMIT is set, so that a start-up line shows an operator's
// GOMEMLIMIT above what the kernel enforces. Apply logs nothing itself:
// the caller logs the Result once, with whatever logger it has; Follow
// logs each change on the Logger it is given.
//
// # Usage
//
//	logger, _, err := logging.New(logging.Config{Service: "catalog"}) // first: everything after can report
//	if err != nil {
//		return err
//	}
//	mem := memlimit.Apply() // before the work starts allocating
//	logger.Info("starting",
//		zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)),
//		zap.Int64("memory_limit", mem.Limit),
//		zap.String("memory_limit_source", string(mem.Source)),
//		zap.Int64("memory_limit_cgroup", mem.Cgroup))
//
// A Result is also a slog.LogValuer: slog.Info("starting", "memory", mem).
package memlimit
