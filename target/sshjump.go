package target

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxJumps bounds a chain of jump hosts, ProxyJump lines of jump hosts
// included, so that a configuration whose hosts jump through each other
// fails instead of looping.
const maxJumps = 8

// jumpSpec is one hop of a ProxyJump list: "[user@]host[:port]" or
// "ssh://[user@]host[:port]". What it leaves out comes from the jump
// host's own configuration.
type jumpSpec struct {
	user string
	host string
	port int // 0: not given
}

func (j jumpSpec) String() string {
	s := j.host
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	if j.user != "" {
		s = j.user + "@" + s
	}
	if j.port != 0 {
		s += ":" + strconv.Itoa(j.port)
	}
	return s
}

// jumpList is js as a ProxyJump value.
func jumpList(js []jumpSpec) string {
	var s []string
	for _, j := range js {
		s = append(s, j.String())
	}
	return strings.Join(s, ",")
}

// parseJumps parses a ProxyJump value: hops separated by commas.
func parseJumps(v string) ([]jumpSpec, error) {
	var out []jumpSpec
	for _, hop := range strings.Split(v, ",") {
		j, err := parseJump(strings.TrimSpace(hop))
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if len(out) > maxJumps {
		return nil, fmt.Errorf("more than %d jump hosts", maxJumps)
	}
	return out, nil
}

func parseJump(s string) (jumpSpec, error) {
	var j jumpSpec
	s = strings.TrimPrefix(s, "ssh://")
	if i := strings.LastIndex(s, "@"); i >= 0 {
		j.user, s = s[:i], s[i+1:]
		if j.user == "" {
			return j, errors.New("empty user name")
		}
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	} else {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return j, fmt.Errorf("bad port %q", ps)
		}
		j.port = n
	}
	if err := checkHost(host, "["+host+"]"); err != nil {
		return j, err
	}
	j.host = host
	return j, nil
}

// jumpHost is the jump spec j as ssh reaches it: its own configuration
// (HostName, Port, User, IdentityFile, HostKeyAlias) under the name
// written in the list, the values in the list first. A hop after the
// first is reached through the hops before it; the first through its own
// ProxyJump, if it has one.
func (c *sshConfig) jumpHost(j jumpSpec, before []jumpSpec) (*sshHost, error) {
	h, err := c.resolve(j.host, j.user, j.port)
	if err != nil {
		return nil, err
	}
	if len(before) > 0 {
		h.jumps = before
	}
	return h, nil
}
