package retention

import (
	"testing"
	"time"
)

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if p.KeepDaily != 7 || p.KeepWeekly != 4 || p.KeepMonthly != 6 {
		t.Errorf("DefaultPolicy() = %d/%d/%d, want 7/4/6", p.KeepDaily, p.KeepWeekly, p.KeepMonthly)
	}
	if p.Location != time.UTC {
		t.Errorf("DefaultPolicy().Location = %v, want UTC", p.Location)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("DefaultPolicy().Validate() = %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		want   string // "" for valid
	}{
		{"zero value", Policy{}, ""},
		{"all set", Policy{KeepDaily: 30, KeepWeekly: 10, KeepMonthly: 24}, ""},
		{"negative daily", Policy{KeepDaily: -1}, "keep-daily must be 0 or more, got -1"},
		{"negative weekly", Policy{KeepDaily: 7, KeepWeekly: -2}, "keep-weekly must be 0 or more, got -2"},
		{"negative monthly", Policy{KeepMonthly: -3}, "keep-monthly must be 0 or more, got -3"},
		{"several negative: first reported", Policy{KeepDaily: -1, KeepWeekly: -1, KeepMonthly: -1}, "keep-daily must be 0 or more, got -1"},
		{"weekly before monthly", Policy{KeepWeekly: -4, KeepMonthly: -5}, "keep-weekly must be 0 or more, got -4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && err == nil:
				t.Errorf("Validate() = nil, want %q", tc.want)
			case tc.want != "" && err.Error() != tc.want:
				t.Errorf("Validate() = %q, want %q", err, tc.want)
			}
		})
	}
}

// A negative count is not an error for Compute: it keeps no slot, like 0.
func TestComputeTreatsNegativeAsZero(t *testing.T) {
	items := dailyBackups(t, "2026-04-01", "2026-04-07")
	now := at(t, "20260407T120000Z")
	neg := Compute(items, Policy{KeepDaily: -1, KeepWeekly: -5, KeepMonthly: -9}, now)
	zero := Compute(items, Policy{}, now)
	if neg.Describe() != zero.Describe() {
		t.Errorf("negative counts:\n%s\nzero counts:\n%s", neg.Describe(), zero.Describe())
	}
}
