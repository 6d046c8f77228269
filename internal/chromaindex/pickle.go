package chromaindex

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// A restricted unpickler for index_metadata.pickle. It knows only the
// opcodes of the two forms Chroma writes (protocol 3 dict from the Rust
// engine's serde-pickle, protocol 4/5 PersistentData object from the Python
// engine's pickle.dump) and builds no class but a stand-in for
// PersistentData. It never recurses; it bounds the nesting of marks, checks
// every declared length against the bytes left before allocating, and keeps
// only the first entries of a dict (the checks read top-level fields), so
// its memory is the memo of strings, at most the file's size again.

// persistentDataClass is the one class a pickle may construct.
const (
	persistentDataModule = "chromadb.segment.impl.vector.local_persistent_hnsw"
	persistentDataName   = "PersistentData"
)

// Bounds of the unpickler.
const (
	pickleMaxMarks       = 64  // nested MARKs (containers being built)
	pickleKeptDictItems  = 64  // entries a dict keeps; the rest are counted
	pickleMaxProtocol    = 5   // highest protocol CPython writes
	pickleMaxShortString = 256 // SHORT_BINUNICODE / GLOBAL line bound
)

// errPickle is wrapped by every unpickling error.
var errPickle = errors.New("not a pickle Chroma writes")

// pyDict is an unpickled dict: its first entries with string keys, and how
// many items were set in all.
type pyDict struct {
	items map[string]any
	n     int
}

// pyClass is a GLOBAL that resolved to PersistentData; pyObject an instance.
type (
	pyClass  struct{}
	pyObject struct{ state any }
	pyTuple  []any
	pyList   struct{ n int }
	pyLong   struct{} // an integer too wide for int64
)

// unpickler reads one pickle from r, which holds at most left bytes.
type unpickler struct {
	r     *bufio.Reader
	left  int64
	stack []any
	marks []int
	memo  map[uint32]any
}

// unpickle parses one pickle of size bytes from r and returns its value.
func unpickle(r io.Reader, size int64) (any, error) {
	u := &unpickler{r: bufio.NewReaderSize(r, 64<<10), left: size, memo: map[uint32]any{}}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPickle, err)
	}
	return v, nil
}

func (u *unpickler) read(n int64) ([]byte, error) {
	if n < 0 || n > u.left {
		return nil, fmt.Errorf("a length of %d bytes runs past the end (%d left)", n, u.left)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(u.r, b); err != nil {
		return nil, fmt.Errorf("truncated: %w", err)
	}
	u.left -= n
	return b, nil
}

func (u *unpickler) uint(n int64) (uint64, error) {
	b, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

// popMark returns the items above the topmost mark and removes them.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no mark")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := u.stack[m:]
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

func (u *unpickler) str(n int64) error {
	b, err := u.read(n)
	if err == nil {
		u.push(string(b))
	}
	return err
}

// setItems adds key/value pairs to the dict below them.
func (u *unpickler) setItems(kv []any) error {
	if len(kv)%2 != 0 {
		return errors.New("odd number of items for a dict")
	}
	d, err := u.top()
	if err != nil {
		return err
	}
	dict, ok := d.(*pyDict)
	if !ok {
		return fmt.Errorf("SETITEM on a %T", d)
	}
	for i := 0; i < len(kv); i += 2 {
		switch kv[i].(type) {
		case string, int64, pyLong, bool, nil, float64:
		default: // Chroma's keys are ids and labels; lists are unhashable
			return fmt.Errorf("a dict key of type %s", pyType(kv[i]))
		}
		dict.n++
		if k, ok := kv[i].(string); ok && len(dict.items) < pickleKeptDictItems {
			dict.items[k] = kv[i+1]
		}
	}
	return nil
}

func (u *unpickler) run() (any, error) {
	for {
		op, err := u.read(1)
		if err != nil {
			return nil, err
		}
		if err := u.step(op[0]); err != nil {
			if errors.Is(err, errStop) {
				return u.pop()
			}
			return nil, fmt.Errorf("opcode 0x%02x: %w", op[0], err)
		}
	}
}

var errStop = errors.New("stop")

// step executes one opcode.
func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		v, err := u.uint(1)
		if err == nil && v > pickleMaxProtocol {
			err = fmt.Errorf("protocol %d", v)
		}
		return err
	case 0x95: // FRAME: a length hint; the bytes follow as opcodes
		n, err := u.uint(8)
		if err == nil && n > uint64(u.left) {
			err = fmt.Errorf("frame of %d bytes past the end", n)
		}
		return err
	case '.': // STOP
		if len(u.stack) != 1 || len(u.marks) != 0 {
			return fmt.Errorf("STOP with %d values and %d marks", len(u.stack), len(u.marks))
		}
		return errStop
	case '(': // MARK
		if len(u.marks) >= pickleMaxMarks {
			return fmt.Errorf("more than %d nested marks", pickleMaxMarks)
		}
		u.marks = append(u.marks, len(u.stack))
	case '}': // EMPTY_DICT
		u.push(&pyDict{items: map[string]any{}})
	case ']': // EMPTY_LIST
		u.push(&pyList{})
	case ')': // EMPTY_TUPLE
		u.push(pyTuple{})
	case 'N':
		u.push(nil)
	case 0x88, 0x89: // NEWTRUE, NEWFALSE
		u.push(op == 0x88)
	case 'K', 'M': // BININT1, BININT2
		v, err := u.uint(map[byte]int64{'K': 1, 'M': 2}[op])
		u.push(int64(v))
		return err
	case 'J': // BININT
		v, err := u.uint(4)
		u.push(int64(int32(uint32(v))))
		return err
	case 0x8a, 0x8b: // LONG1, LONG4
		n, err := u.uint(map[byte]int64{0x8a: 1, 0x8b: 4}[op])
		if err != nil {
			return err
		}
		if n > uint64(u.left) {
			return fmt.Errorf("integer of %d bytes past the end", n)
		}
		return u.long(int64(n))
	case 'G': // BINFLOAT (big-endian)
		b, err := u.read(8)
		if err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
		return err
	case 0x8c: // SHORT_BINUNICODE
		n, err := u.uint(1)
		if err != nil {
			return err
		}
		return u.str(int64(n))
	case 'X': // BINUNICODE
		n, err := u.uint(4)
		if err != nil {
			return err
		}
		return u.str(int64(n))
	case 0x8d: // BINUNICODE8
		n, err := u.uint(8)
		if err != nil {
			return err
		}
		if n > uint64(u.left) {
			return fmt.Errorf("string of %d bytes past the end", n)
		}
		return u.str(int64(n))
	case 'q', 'r', 0x94: // BINPUT, LONG_BINPUT, MEMOIZE
		return u.put(op)
	case 'h', 'j': // BINGET, LONG_BINGET
		n, err := u.uint(map[byte]int64{'h': 1, 'j': 4}[op])
		if err != nil {
			return err
		}
		v, ok := u.memo[uint32(n)]
		if !ok {
			return fmt.Errorf("memo %d was never stored", n)
		}
		u.push(v)
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		return u.setItems([]any{k, v})
	case 'u': // SETITEMS
		kv, err := u.popMark()
		if err != nil {
			return err
		}
		return u.setItems(kv)
	case 'a', 'e': // APPEND, APPENDS
		n := 1
		if op == 'e' {
			items, err := u.popMark()
			if err != nil {
				return err
			}
			n = len(items)
		} else if _, err := u.pop(); err != nil {
			return err
		}
		l, err := u.top()
		if err != nil {
			return err
		}
		list, ok := l.(*pyList)
		if !ok {
			return fmt.Errorf("APPEND to a %T", l)
		}
		list.n += n
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(pyTuple(append([]any(nil), items...)))
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op-0x85) + 1
		t := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := u.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		u.push(t)
	case 'c': // GLOBAL module\nname\n
		mod, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		return u.global(mod, name)
	case 0x93: // STACK_GLOBAL
		name, err := u.pop()
		if err != nil {
			return err
		}
		mod, err := u.pop()
		if err != nil {
			return err
		}
		m, ok1 := mod.(string)
		n, ok2 := name.(string)
		if !ok1 || !ok2 {
			return errors.New("STACK_GLOBAL of non-strings")
		}
		return u.global(m, n)
	case 0x81: // NEWOBJ cls args
		args, err := u.pop()
		if err != nil {
			return err
		}
		cls, err := u.pop()
		if err != nil {
			return err
		}
		if _, ok := cls.(pyClass); !ok {
			return fmt.Errorf("NEWOBJ of a %T", cls)
		}
		if t, ok := args.(pyTuple); !ok || len(t) != 0 {
			return errors.New("NEWOBJ with arguments")
		}
		u.push(&pyObject{})
	case 'b': // BUILD obj state
		state, err := u.pop()
		if err != nil {
			return err
		}
		o, err := u.top()
		if err != nil {
			return err
		}
		obj, ok := o.(*pyObject)
		if !ok || obj.state != nil {
			return fmt.Errorf("BUILD on a %T", o)
		}
		obj.state = state
	default:
		return errors.New("not an opcode of Chroma's index metadata")
	}
	return nil
}

func (u *unpickler) put(op byte) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	var idx uint64
	switch op {
	case 'q':
		idx, err = u.uint(1)
	case 'r':
		idx, err = u.uint(4)
	default:
		idx = uint64(len(u.memo))
	}
	if err == nil {
		if idx > math.MaxUint32 {
			return errors.New("memo full")
		}
		u.memo[uint32(idx)] = v
	}
	return err
}

// long pushes a little-endian two's-complement integer of n bytes.
func (u *unpickler) long(n int64) error {
	b, err := u.read(n)
	if err != nil {
		return err
	}
	if n > 8 {
		u.push(pyLong{})
		return nil
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if n > 0 && n < 8 && b[n-1]&0x80 != 0 {
		v |= ^uint64(0) << (8 * n) // sign-extend
	}
	u.push(int64(v))
	return nil
}

// line reads a newline-terminated line of at most pickleMaxShortString bytes.
func (u *unpickler) line() (string, error) {
	var b []byte
	for len(b) <= pickleMaxShortString {
		c, err := u.read(1)
		if err != nil {
			return "", err
		}
		if c[0] == '\n' {
			return string(b), nil
		}
		b = append(b, c[0])
	}
	return "", errors.New("line too long")
}

// global resolves a class reference; only PersistentData is allowed.
func (u *unpickler) global(mod, name string) error {
	if mod != persistentDataModule || name != persistentDataName {
		return fmt.Errorf("refuses to construct %.100s.%.100s", mod, name)
	}
	u.push(pyClass{})
	return nil
}

// indexMetadata is what the checks read from index_metadata.pickle.
type indexMetadata struct {
	form           string // "dict" (Rust engine) or "PersistentData" (Python engine)
	dimensionality any    // int64, or nil for None
}

// decodeIndexMetadata reads Chroma's index metadata from an unpickled value:
// a dict, or a PersistentData object whose state is one.
func decodeIndexMetadata(v any) (indexMetadata, error) {
	m := indexMetadata{form: "dict"}
	if obj, ok := v.(*pyObject); ok {
		m.form = persistentDataName
		v = obj.state
	}
	d, ok := v.(*pyDict)
	if !ok {
		return m, fmt.Errorf("%w: holds a %s, not a dict or a %s", errPickle, pyType(v), persistentDataName)
	}
	dim, ok := d.items["dimensionality"]
	if !ok {
		return m, fmt.Errorf("%w: its %s has no dimensionality", errPickle, m.form)
	}
	m.dimensionality = dim
	return m, nil
}

func pyType(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case *pyObject:
		return persistentDataName + " without state"
	case pyClass:
		return "class"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case string:
		return "str"
	case int64, pyLong:
		return "int"
	case bool:
		return "bool"
	case float64:
		return "float"
	}
	return fmt.Sprintf("%T", v)
}
