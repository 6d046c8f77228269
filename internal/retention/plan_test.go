package retention

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name string
		plan Plan
		want string
	}{
		{
			name: "lines interleaved oldest first, then the summary",
			plan: Plan{
				Keep: []Keep{
					{Stamp: "20260405T060000Z", Reasons: []string{"weekly 2026-04-05"}},
					{Stamp: "20260407T060000Z", Reasons: []string{"daily 2026-04-07", "newest"}},
				},
				Remove:  []string{"20260301T060000Z", "20260406T060000Z"},
				Invalid: []string{"20260406T120000Z"},
			},
			want: "" +
				"remove 20260301T060000Z\n" +
				"keep   20260405T060000Z  weekly 2026-04-05\n" +
				"remove 20260406T060000Z\n" +
				"invalid 20260406T120000Z\n" +
				"keep   20260407T060000Z  daily 2026-04-07, newest\n" +
				"kept 2, removing 2, invalid 1\n",
		},
		{
			name: "empty plan",
			plan: Plan{},
			want: "kept 0, removing 0, invalid 0\n",
		},
		{
			name: "a hand-built keep without reasons has no trailing spaces",
			plan: Plan{Keep: []Keep{{Stamp: "20260407T060000Z"}}},
			want: "keep   20260407T060000Z\nkept 1, removing 0, invalid 0\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.plan.Describe(); got != tc.want {
				t.Errorf("Describe() =\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestKept(t *testing.T) {
	plan := Plan{Keep: []Keep{
		{Stamp: "20260405T060000Z", Reasons: []string{"weekly 2026-04-05"}},
		{Stamp: "20260407T060000Z", Reasons: []string{"newest"}},
	}}
	if got, want := plan.Kept(), []string{"20260405T060000Z", "20260407T060000Z"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Kept() = %v, want %v", got, want)
	}
	if got := (Plan{}).Kept(); got == nil || len(got) != 0 {
		t.Errorf("Plan{}.Kept() = %#v, want an empty, non-nil slice", got)
	}
}

// The CLI encodes plans as JSON: empty lists must be [] rather than null.
func TestPlanJSON(t *testing.T) {
	plan := Compute(nil, DefaultPolicy(), at(t, "20260407T120000Z"))
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"Keep":[],"Remove":[],"Invalid":[],"InvalidErrors":{}}`; got != want {
		t.Errorf("empty plan as JSON = %s, want %s", got, want)
	}
	b, err = json.Marshal(Keep{Stamp: "20260407T060000Z", Reasons: []string{"daily 2026-04-07", "newest"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"stamp":"20260407T060000Z","reasons":["daily 2026-04-07","newest"]}`; got != want {
		t.Errorf("Keep as JSON = %s, want %s", got, want)
	}
}
