package sample

import (
	"encoding/binary"
)

// Pickle opcodes (Python's pickle module, protocol 3).
const (
	opProto       = 0x80
	opStop        = '.'
	opMark        = '('
	opEmptyDict   = '}'
	opSetItem     = 's'
	opSetItems    = 'u'
	opNone        = 'N'
	opBinInt      = 'J'
	opBinInt1     = 'K'
	opBinInt2     = 'M'
	opLong1       = 0x8a
	opBinUnicode  = 'X'
	opBinPut      = 'q'
	opLongBinPut  = 'r'
	opBinGet      = 'h'
	opLongBinGet  = 'j'
	pickleBatch   = 1000 // items per SETITEMS, as CPython's pickler batches them
	pickleVersion = 3

	// Protocol 4, for the Python engine's PersistentData object.
	opShortBinUnicode = 0x8c
	opMemoize         = 0x94
	opStackGlobal     = 0x93
	opEmptyTuple      = ')'
	opNewObj          = 0x81
	opBuild           = 'b'
	persistentModule  = "chromadb.segment.impl.vector.local_persistent_hnsw"
	persistentClass   = "PersistentData"
)

// hnswPickle encodes index_metadata.pickle: the protocol-3 dict a Chroma
// vector segment keeps beside its HNSW files, with the dimensionality, the
// element count, and three maps between embedding ids, HNSW labels and
// sequence ids. Labels are 1..len(ids); seqs[i] is the sequence id of ids[i].
//
// Like CPython's pickler it memoizes every string and dict, so each id is
// written once and referenced by a memo get afterwards; the output is
// byte-for-byte what pickle.dumps(d, protocol=3) writes for the same dict
// (TestPickleLoads checks this with python3).
func hnswPickle(dim int, ids []string, seqs []int64) []byte {
	p := &pickler{memo: make(map[string]uint32, len(ids)), proto: pickleVersion}
	p.b = make([]byte, 0, 256+len(ids)*72)
	p.b = append(p.b, opProto, pickleVersion)
	p.state(dim, ids, seqs, -1)
	p.b = append(p.b, opStop)
	return p.b
}

// hnswPickleObject encodes index_metadata.pickle as the Python engine
// (Chroma 0.4-0.6) writes it: pickle.dump(PersistentData, protocol 4),
// an object whose state is the same dict with max_seq_id set. It has no
// FRAME opcodes (optional in protocol 4); python3 loads it
// (TestPickleObjectLoads).
func hnswPickleObject(dim int, ids []string, seqs []int64) []byte {
	p := &pickler{memo: make(map[string]uint32, len(ids)), proto: 4}
	p.b = make([]byte, 0, 256+len(ids)*72)
	p.b = append(p.b, opProto, 4)
	p.str(persistentModule)
	p.str(persistentClass)
	p.b = append(p.b, opStackGlobal)
	p.put()
	p.b = append(p.b, opEmptyTuple, opNewObj)
	p.put()
	var last int64
	for _, s := range seqs {
		last = max(last, s)
	}
	p.state(dim, ids, seqs, last)
	p.b = append(p.b, opBuild, opStop)
	return p.b
}

// state writes the metadata dict; maxSeq < 0 writes max_seq_id None.
func (p *pickler) state(dim int, ids []string, seqs []int64, maxSeq int64) {
	p.emptyDict()
	type item func()
	top := []item{
		func() { p.str("dimensionality"); p.int(int64(dim)) },
		func() { p.str("total_elements_added"); p.int(int64(len(ids))) },
		func() {
			p.str("max_seq_id")
			if maxSeq < 0 {
				p.b = append(p.b, opNone)
			} else {
				p.int(maxSeq)
			}
		},
		func() {
			p.str("id_to_label")
			p.dict(len(ids), func(i int) { p.str(ids[i]); p.int(int64(i + 1)) })
		},
		func() {
			p.str("label_to_id")
			p.dict(len(ids), func(i int) { p.int(int64(i + 1)); p.str(ids[i]) })
		},
		func() {
			p.str("id_to_seq_id")
			p.dict(len(ids), func(i int) { p.str(ids[i]); p.int(seqs[i]) })
		},
	}
	p.b = append(p.b, opMark)
	for _, f := range top {
		f()
	}
	p.b = append(p.b, opSetItems)
}

// pickler holds the output and memo of one pickle.
type pickler struct {
	proto byte
	b     []byte
	memo  map[string]uint32
	next  uint32 // next memo index
}

func (p *pickler) put() {
	if p.proto >= 4 {
		p.b = append(p.b, opMemoize)
	} else if p.next < 256 {
		p.b = append(p.b, opBinPut, byte(p.next))
	} else {
		p.b = append(p.b, opLongBinPut)
		p.b = binary.LittleEndian.AppendUint32(p.b, p.next)
	}
	p.next++
}

func (p *pickler) emptyDict() {
	p.b = append(p.b, opEmptyDict)
	p.put()
}

// dict writes a dict of n items, item(i) writing the i-th key and value, in
// SETITEMS batches of pickleBatch as CPython does.
func (p *pickler) dict(n int, item func(i int)) {
	p.emptyDict()
	for start := 0; start < n; start += pickleBatch {
		end := min(start+pickleBatch, n)
		if end-start == 1 {
			item(start)
			p.b = append(p.b, opSetItem)
			continue
		}
		p.b = append(p.b, opMark)
		for i := start; i < end; i++ {
			item(i)
		}
		p.b = append(p.b, opSetItems)
	}
}

func (p *pickler) str(s string) {
	if idx, ok := p.memo[s]; ok {
		if idx < 256 {
			p.b = append(p.b, opBinGet, byte(idx))
		} else {
			p.b = append(p.b, opLongBinGet)
			p.b = binary.LittleEndian.AppendUint32(p.b, idx)
		}
		return
	}
	if p.proto >= 4 && len(s) < 256 {
		p.b = append(p.b, opShortBinUnicode, byte(len(s)))
	} else {
		p.b = append(p.b, opBinUnicode)
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	}
	p.b = append(p.b, s...)
	p.memo[s] = p.next
	p.put()
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.b = append(p.b, opBinInt1, byte(v))
	case v >= 0 && v < 1<<16:
		p.b = append(p.b, opBinInt2, byte(v), byte(v>>8))
	case v >= -1<<31 && v < 1<<31:
		p.b = append(p.b, opBinInt)
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(int32(v)))
	default:
		// LONG1: little-endian two's complement, shortest form.
		var le [8]byte
		binary.LittleEndian.PutUint64(le[:], uint64(v))
		n := 8
		for n > 1 && ((le[n-1] == 0 && le[n-2]&0x80 == 0) || (le[n-1] == 0xff && le[n-2]&0x80 != 0)) {
			n--
		}
		p.b = append(p.b, opLong1, byte(n))
		p.b = append(p.b, le[:n]...)
	}
}
