package target

import (
	"net/url"
	"path"
	"strconv"
	"strings"
)

// s3Credentials is the fix named when an s3 URL carries user information.
const s3Credentials = "credentials are not accepted in an s3 URL: they come from the AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the shared files (~/.aws/credentials, ~/.aws/config) or a profile (?profile=NAME)"

// parseS3 reads "s3://BUCKET[/PREFIX][?endpoint=URL&region=R&profile=NAME]"
// from v (raw as given). It returns a reason when the address is refused.
func parseS3(v *url.URL, raw string) (URL, string) {
	if v.User != nil {
		return URL{}, s3Credentials
	}
	if v.Fragment != "" || strings.Contains(raw, "#") {
		return URL{}, "fragments are not accepted (percent-encode # in a prefix)"
	}
	if v.Port() != "" {
		return URL{}, "an s3 URL names a bucket, not a host: put the server in ?endpoint=http(s)://HOST:PORT"
	}
	u := URL{Scheme: SchemeS3, Bucket: v.Host, Path: path.Clean("/" + v.Path)}
	if reason := checkBucket(u.Bucket); reason != "" {
		return URL{}, reason
	}
	q, err := url.ParseQuery(v.RawQuery)
	if err != nil {
		return URL{}, "the query is not valid (percent-encode & and = in values)"
	}
	for k, vals := range q {
		if len(vals) != 1 {
			return URL{}, "query parameter " + k + " is given more than once"
		}
		val := vals[0]
		switch k {
		case "endpoint":
			e, reason := checkEndpoint(val)
			if reason != "" {
				return URL{}, reason
			}
			u.Endpoint = e
		case "region":
			if val == "" || strings.ContainsFunc(val, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
			}) {
				return URL{}, "region must be letters a-z, digits and '-' (us-east-1)"
			}
			u.Region = val
		case "profile":
			if val == "" || strings.ContainsFunc(val, isControl) {
				return URL{}, "profile must be a profile name of the AWS shared config"
			}
			u.Profile = val
		default:
			return URL{}, "unknown query parameter " + k + " (an s3 URL takes endpoint, region and profile)"
		}
	}
	return u, ""
}

// checkBucket accepts S3's bucket names: 3-63 of a-z, 0-9, '.' and '-',
// beginning and ending with a letter or digit.
func checkBucket(b string) string {
	if b == "" {
		return "missing bucket: s3://BUCKET/PREFIX"
	}
	ok := len(b) >= 3 && len(b) <= 63
	for i, r := range b {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '.' && r != '-' || i == 0 || i == len(b)-1) {
			ok = false
		}
	}
	if !ok {
		return "invalid bucket name " + strconv.Quote(b) + " (3-63 characters: a-z, 0-9, '.', '-')"
	}
	return ""
}

// checkEndpoint accepts "http(s)://host[:port]" (a trailing "/" is
// dropped) and returns it in that form.
func checkEndpoint(e string) (string, string) {
	const form = "endpoint must be http://HOST[:PORT] or https://HOST[:PORT]"
	v, err := url.Parse(e)
	if err != nil || (v.Scheme != "http" && v.Scheme != "https") || v.Host == "" || v.Opaque != "" {
		return "", form
	}
	if v.User != nil {
		return "", s3Credentials
	}
	if (v.Path != "" && v.Path != "/") || v.RawQuery != "" || v.Fragment != "" {
		return "", form + " (no path or query)"
	}
	if err := checkHost(v.Hostname(), v.Host); err != nil {
		return "", "endpoint: " + err.Error()
	}
	return v.Scheme + "://" + v.Host, ""
}

// s3String is the canonical form of an s3 URL: the query in a fixed order.
func (u URL) s3String() string {
	v := url.URL{Scheme: SchemeS3, Host: u.Bucket, Path: u.Path}
	if u.Path == "/" {
		v.Path = ""
	}
	q := url.Values{}
	if u.Endpoint != "" {
		q.Set("endpoint", u.Endpoint)
	}
	if u.Region != "" {
		q.Set("region", u.Region)
	}
	if u.Profile != "" {
		q.Set("profile", u.Profile)
	}
	v.RawQuery = q.Encode() // sorted by key: endpoint, profile, region
	return v.String()
}

// redactUserinfo hides everything between "://" and the last '@' before
// the path: in an s3 URL that is an access key, and maybe its secret.
func redactUserinfo(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return raw
	}
	rest := raw[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return raw
	}
	return raw[:i+3] + "xxxxx" + rest[at:]
}
