package main

// fixtureResults is a results.json as two shapes, three sizes, every tool
// and every operation would give, with two runs each; borg's check fails
// at the largest size, and rsync's pushes at the smallest are missing.
// The text shape's commands take twice the random shape's wall time.
func fixtureResults() *results {
	sizes := []int{256, 1024, 4096}
	tools := []string{toolOurs, "sqlite3+cp", "rsync", "restic", "borg"}
	res := &results{
		Format:  resultsFormat,
		Command: []string{"go run ./bench/compare", "-sizes", "256,1024,4096"},
		Config:  resultsConfig{SizesMiB: sizes, Shapes: []string{"random", "text"}, Segments: 20, Runs: []int{2, 2, 1}, Tools: tools, Ops: allOps},
		Machine: machine{CPU: "Test CPU", Cores: 2, MemoryMiB: 24000, GitCommit: "abc123"},
		Tools:   []toolInfo{{Name: "restic", Version: "restic 0.14.0 compiled with go1.19.8"}, {Name: "borg", Missing: installHint("borg")}},
		Notes:   methodNotes,
	}
	for shi, shape := range []string{"random", "text"} {
		for si, size := range sizes {
			for ti, tool := range tools {
				spec, _ := specFor(tool)
				for _, o := range spec.ops {
					if tool == "rsync" && size == 256 {
						continue
					}
					for run := 1; run <= 2; run++ {
						m := measurement{
							Shape: shape, SizeMiB: size, Run: run, Tool: tool, Op: o,
							WallSeconds: float64(shi+1) * float64(ti+1) * float64(int(1)<<si) * (1 + 0.1*float64(run)),
							UserSeconds: 1, SysSeconds: 0.5,
							MaxRSSKiB:       int64(1024 * (ti + 1)),
							DiskGrowthBytes: int64(size) << 20,
						}
						if o.network() {
							m.SentBytes = int64(size) << 20
							m.ServerCPUSeconds = 0.25
						}
						if tool == "borg" && o == opCheck && size == 4096 {
							m = measurement{Shape: shape, SizeMiB: size, Run: run, Tool: tool, Op: o, Error: "borg: exit status 2; stderr: broken | pipe"}
						}
						res.Measurements = append(res.Measurements, m)
					}
				}
			}
		}
	}
	return res
}
