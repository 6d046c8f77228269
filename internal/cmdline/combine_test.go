package cmdline

import "testing"

func TestCombined(t *testing.T) {
	for _, c := range []struct {
		codes []int
		want  int
	}{
		{nil, ExitOK},
		{[]int{ExitOK, ExitOK}, ExitOK},
		{[]int{ExitOK, ExitNotFound}, ExitNotFound},
		{[]int{ExitNotFound, ExitOK, ExitNotFound}, ExitNotFound},
		{[]int{ExitNotFound, ExitBusy}, ExitFailed},
		{[]int{ExitOK, ExitWrongKey, ExitFailed}, ExitFailed},
		{[]int{ExitFailed, ExitInterrupted, ExitOK}, ExitInterrupted},
		{[]int{ExitUsage}, ExitUsage},
	} {
		if got := Combined(c.codes...); got != c.want {
			t.Errorf("Combined(%v) = %d, want %d", c.codes, got, c.want)
		}
	}
}
