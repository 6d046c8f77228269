package encrypt

import (
	"bytes"
	"fmt"
	"strconv"
)

// maxWorkFactor is the costliest scrypt derivation this tool performs, when
// writing a key file and when opening one: its own [DefaultWorkFactor]. A
// key file comes from the target; one asking for more (age itself accepts
// up to 22: 4 GiB and half a minute per derivation) was not written by this
// tool and is refused before any work is done.
const maxWorkFactor = DefaultWorkFactor

// checkWorkFactor refuses a binary key file whose header has a scrypt
// stanza above maxWorkFactor. It only reads the header lines; an armored
// or malformed file is left to age, whose scrypt identity is capped too
// (SetMaxWorkFactor) and reports it as damage.
func checkWorkFactor(keyFile []byte) error {
	lines := bytes.Split(keyFile, []byte("\n"))
	if len(lines) == 0 || string(lines[0]) != "age-encryption.org/v1" {
		return nil
	}
	for _, l := range lines[1:] {
		if bytes.HasPrefix(l, []byte("---")) {
			return nil
		}
		f := bytes.Fields(l)
		if len(f) != 4 || string(f[0]) != "->" || string(f[1]) != "scrypt" {
			continue
		}
		logN, err := strconv.Atoi(string(f[3]))
		if err != nil {
			continue // age refuses it as malformed
		}
		if logN > maxWorkFactor {
			return fmt.Errorf("%w: the key file asks for scrypt work factor %d (2^%d, %s of memory per derivation); "+
				"this tool writes %d and refuses more, so this key file was not written by it", ErrWorkFactor, logN, logN, memoryText(logN), maxWorkFactor)
		}
	}
	return nil
}

// memoryText is scrypt's memory for work factor logN (r = 8: 1 KiB per N).
func memoryText(logN int) string {
	if logN >= 20 {
		return strconv.Itoa(1<<(logN-20)) + " GiB"
	}
	return strconv.Itoa(1<<max(logN-10, 0)) + " MiB"
}
