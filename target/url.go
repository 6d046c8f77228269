package target

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// URL schemes that Open accepts.
const (
	SchemeSFTP = "sftp"
	SchemeFile = "file"
	SchemeS3   = "s3"
)

// acceptedForms ends every URL error, so that the fix is in the message.
const acceptedForms = "accepted forms: sftp://USER@HOST[:PORT]/ABS/PATH, file:///ABS/PATH, /ABS/PATH, s3://BUCKET[/PREFIX][?endpoint=URL&region=R&profile=NAME]"

// URL is a parsed target address. It never holds a password or an access
// key: ParseURL refuses URLs that carry one.
type URL struct {
	Scheme string // SchemeSFTP, SchemeFile or SchemeS3
	User   string // sftp: the login name; "" means the local user's name
	Host   string // sftp: host name or IP address, without brackets
	Port   int    // sftp: TCP port, 22 when the URL has none
	Path   string // absolute and clean; s3: "/" + the key prefix, "/" for none

	Bucket   string // s3: the bucket
	Endpoint string // s3: the server, "http(s)://host[:port]"; "" is AWS's for the region
	Region   string // s3: the region; "" is the AWS configuration's
	Profile  string // s3: the shared-config profile; "" is AWS_PROFILE's, else "default"
}

// Prefix is an s3 URL's key prefix without slashes at either end: ""
// when the target is the whole bucket.
func (u URL) Prefix() string { return strings.Trim(u.Path, "/") }

// Addr is host:port, as net.Dial and known_hosts lookups want it.
func (u URL) Addr() string { return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) }

// String is the URL in canonical form: ParseURL(u.String()) == u. The
// port is omitted when it is 22.
func (u URL) String() string {
	v := url.URL{Scheme: u.Scheme, Path: u.Path}
	if u.Scheme == SchemeFile {
		return "file://" + v.EscapedPath()
	}
	if u.Scheme == SchemeS3 {
		return u.s3String()
	}
	if u.User != "" {
		v.User = url.User(u.User)
	}
	v.Host = u.Host
	if strings.Contains(u.Host, ":") {
		v.Host = "[" + u.Host + "]"
	}
	if u.Port != 22 {
		v.Host = net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
	}
	return v.String()
}

// URLError is a target address that ParseURL (and so Open) refuses. Its
// message never contains a password that was in the address.
type URLError struct {
	URL    string // the address as given, with any password replaced by "xxxxx"
	Reason string
}

// Error is one line: the address, the reason and the accepted forms.
func (e *URLError) Error() string {
	return fmt.Sprintf("target %q: %s; %s", e.URL, e.Reason, acceptedForms)
}

// ParseURL parses a target address: "sftp://user@host[:port]/abs/path",
// "file:///abs/path" (host empty or localhost) or a bare absolute path,
// which is a local directory. Paths are cleaned. Passwords in the URL,
// queries, fragments, relative paths and other schemes are refused with a
// *URLError.
func ParseURL(raw string) (URL, error) {
	bad := func(reason string) (URL, error) {
		return URL{}, &URLError{URL: redactQuery(redactURL(raw)), Reason: reason}
	}
	if raw == "" {
		return bad("empty address")
	}
	if strings.ContainsAny(raw, "\x00\r\n") {
		return bad("control characters in the address")
	}
	if strings.HasPrefix(raw, "/") {
		return URL{Scheme: SchemeFile, Path: path.Clean(raw)}, nil
	}
	if !strings.Contains(raw, "://") {
		if strings.Contains(raw, ":") {
			return bad("not a URL (scp-style host:path is not accepted)")
		}
		return bad("a local directory must be an absolute path")
	}
	v, err := url.Parse(raw)
	if err != nil {
		reason := "not a valid URL"
		var ue *url.Error
		if errors.As(err, &ue) && redactQuery(redactURL(raw)) == raw {
			reason += " (" + ue.Err.Error() + ")"
		}
		return bad(reason)
	}
	if v.Opaque != "" {
		return bad("not a valid URL")
	}
	if strings.EqualFold(v.Scheme, SchemeS3) {
		u, reason := parseS3(v, raw)
		if reason != "" {
			return URL{}, &URLError{URL: redactQuery(redactUserinfo(raw)), Reason: reason}
		}
		return u, nil
	}
	if v.RawQuery != "" || v.ForceQuery || v.Fragment != "" || strings.Contains(raw, "#") {
		return bad("queries and fragments are not accepted (percent-encode ? and # in paths)")
	}
	if v.User != nil {
		if _, has := v.User.Password(); has {
			return bad("passwords in URLs are not accepted: authenticate with a key file or an SSH agent")
		}
	}
	p := v.Path
	if !strings.HasPrefix(p, "/") {
		return bad("the path must be absolute")
	}
	p = path.Clean(p)
	switch v.Scheme {
	case SchemeFile:
		if v.User != nil || v.Port() != "" || (v.Host != "" && v.Host != "localhost") {
			return bad("a file URL names a local directory: file:///ABS/PATH")
		}
		return URL{Scheme: SchemeFile, Path: p}, nil
	case SchemeSFTP:
		host := v.Hostname()
		if err := checkHost(host, v.Host); err != nil {
			return bad(err.Error())
		}
		port := 22
		if ps := v.Port(); ps != "" {
			n, err := strconv.Atoi(ps)
			if err != nil || n < 1 || n > 65535 {
				return bad("port must be 1-65535")
			}
			port = n
		}
		u := URL{Scheme: SchemeSFTP, Host: host, Port: port, Path: p}
		if v.User != nil {
			u.User = v.User.Username()
			if u.User == "" || strings.ContainsFunc(u.User, isControl) {
				return bad("invalid user name")
			}
		}
		return u, nil
	}
	return bad(fmt.Sprintf("unsupported scheme %q", v.Scheme))
}

// checkHost accepts an IP address (IPv6 only in brackets, without a zone) or a host name
// made of letters, digits, '.', '-' and '_'.
func checkHost(host, hostport string) error {
	if host == "" {
		return errors.New("missing host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return errors.New("IPv6 zones are not accepted")
		}
		if a.Is6() && !strings.HasPrefix(hostport, "[") {
			return errors.New("IPv6 addresses go in brackets: sftp://user@[::1]:22/path")
		}
		return nil
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("invalid host name %q", host)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// redactURL hides a password in an address that may not even parse:
// everything between the first ':' of the user information and the last
// '@' of the address becomes "xxxxx". It errs on the side of hiding too
// much (an '@' later in a path widens the hidden part).
func redactURL(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		i = 0 // scp-style user:password@host:path
	} else {
		i += len("://")
	}
	at := strings.LastIndex(raw[i:], "@")
	if at < 0 {
		return raw
	}
	userinfo := raw[i : i+at]
	colon := strings.Index(userinfo, ":")
	if colon < 0 {
		return raw
	}
	return raw[:i] + userinfo[:colon] + ":xxxxx" + raw[i+at:]
}

// redactQuery hides a query and a fragment, which are never part of a
// target address and may carry a secret (?password=...).
func redactQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i] + raw[i:i+1] + "xxxxx"
	}
	return raw
}
