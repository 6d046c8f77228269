package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestRevisionOf(t *testing.T) {
	for _, c := range []struct {
		settings []debug.BuildSetting
		want     string
	}{
		{nil, ""},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}, "abc"},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}, "abc-dirty"},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}}, ""},
	} {
		if got := revisionOf(c.settings); got != c.want {
			t.Errorf("revisionOf(%v) = %q, want %q", c.settings, got, c.want)
		}
	}
}

func TestBuildSHA(t *testing.T) {
	t.Setenv("ATOCORE_BUILD_SHA", "pkg-1")
	if got := BuildSHA(); got != "pkg-1" {
		t.Fatalf("BuildSHA = %q with ATOCORE_BUILD_SHA set", got)
	}
	t.Setenv("ATOCORE_BUILD_SHA", "")
	want := Revision()
	if want == "" {
		want = "unknown"
	}
	if got := BuildSHA(); got != want {
		t.Fatalf("BuildSHA = %q, want %q", got, want)
	}
	if s := String("atocore-backup"); !strings.HasPrefix(s, "atocore-backup "+Version+" (revision ") {
		t.Fatalf("String = %q", s)
	}
}

func TestModuleRevision(t *testing.T) {
	for v, want := range map[string]string{
		"": "", "(devel)": "", "v0.1.0": "v0.1.0",
		"v0.0.0-20261207030000-abcdef123456":         "abcdef123456",
		"v0.1.1-0.20261207030000-abcdef123456+dirty": "v0.1.1-0.20261207030000-abcdef123456+dirty",
	} {
		if got := moduleRevision(v); got != want {
			t.Errorf("moduleRevision(%q) = %q, want %q", v, got, want)
		}
	}
}
