package sample

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// project is one entry of the sample project catalogue.
type project struct {
	ID, Name, Description string
	Aliases               []string
}

// catalogue lists the projects a sample root draws from, in the order they are
// used: a small root takes the first few.
var catalogue = []project{
	{"p01-mirror-polishing", "Mirror Polishing", "Figuring and polishing of the primary mirror blanks", []string{"p01", "polishing"}},
	{"p02-spectrograph", "Echelle Spectrograph", "High-resolution spectrograph optical and mechanical design", []string{"p02", "spectrograph", "echelle"}},
	{"p03-cryostat", "Detector Cryostat", "Vacuum cryostat for the science detectors", []string{"p03", "cryo"}},
	{"p04-adaptive-optics", "Adaptive Optics", "Wavefront sensing and deformable mirror control", []string{"p04", "ao"}},
	{"p05-interferometer", "Interferometer", "Fizeau interferometer for surface metrology", []string{"p05", "ifm", "interferometer"}},
	{"p06-detector-readout", "Detector Readout", "Readout electronics and firmware for the CCD mosaic", []string{"p06", "readout"}},
	{"p07-thermal-model", "Thermal Model", "Finite-element thermal model of the telescope structure", []string{"p07", "thermal"}},
	{"p08-telescope-mount", "Telescope Mount", "Alt-az mount drives, encoders and pointing model", []string{"p08", "mount"}},
	{"p09-data-pipeline", "Data Pipeline", "Reduction pipeline from raw frames to calibrated spectra", []string{"p09", "pipeline"}},
	{"p10-calibration-unit", "Calibration Unit", "Arc and flat-field lamps with their relay optics", []string{"p10", "calib"}},
	{"p11-fiber-positioner", "Fiber Positioner", "Robotic fiber positioner for multi-object spectroscopy", []string{"p11", "positioner"}},
	{"p12-enclosure-dome", "Enclosure and Dome", "Dome rotation, shutter and ventilation", []string{"p12", "dome"}},
	{"p13-vacuum-system", "Vacuum System", "Pumps, gauges and interlocks for the coating chamber", []string{"p13", "vacuum"}},
	{"p14-guider-camera", "Guider Camera", "Acquisition and guiding camera with its control loop", []string{"p14", "guider"}},
	{"p15-metrology-frame", "Metrology Frame", "Laser-tracker metrology of the optical support frame", []string{"p15", "metrology"}},
	{"p16-coating-lab", "Coating Lab", "Protected-silver coatings and witness-sample tests", []string{"p16", "coating"}},
}

// sourceRoot is where AtoCore's ingested source trees live on the server.
const sourceRoot = "/srv/storage/atocore/sources"

// domainWords are real words mixed into the generated text so that it reads
// like engineering notes rather than pure noise.
var domainWords = strings.Fields(`the of and to in for is on with that by as at from this be are
was it an or not which we have has but will can all were been if their more
mirror lens optical alignment wavefront detector thermal gradient stress strain
mount encoder pointing model calibration flat arc lamp fiber spectrograph echelle
grating order dispersion resolution cryostat vacuum pressure pump gauge coating
silver witness sample interferometer fringe phase surface figure error budget
tolerance drawing revision review decision meeting action owner deadline risk
requirement interface firmware readout noise gain bias dark frame pipeline
reduction temperature sensor heater controller loop bandwidth actuator mode
measurement result analysis report test procedure setup fixture bolt flange
aluminium invar steel glass zerodur bracket mass stiffness frequency vibration
mm um nm K Pa Hz ms deg arcsec rms pv`)

// vocabulary is the fixed word list text is drawn from: the domain words plus
// a few thousand pronounceable synthetic words (part numbers, names, jargon).
var vocabulary = buildVocabulary()

func buildVocabulary() []string {
	onset := []string{"b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "cr", "st", "tr", "pl", "gr", "sh", "th", "ch"}
	nucleus := []string{"a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y"}
	coda := []string{"", "", "n", "r", "s", "t", "l", "m", "x", "nd", "rt", "st", "ck"}
	r := rand.New(rand.NewPCG(0x61746f636f7265, 0x766f636162))
	words := append([]string(nil), domainWords...)
	seen := make(map[string]bool, 4096)
	for _, w := range words {
		seen[w] = true
	}
	for len(words) < 4096 {
		var b strings.Builder
		for n := 1 + r.IntN(3); n > 0; n-- {
			b.WriteString(onset[r.IntN(len(onset))])
			b.WriteString(nucleus[r.IntN(len(nucleus))])
			b.WriteString(coda[r.IntN(len(coda))])
		}
		w := b.String()
		if !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}

// appendText appends about n bytes of sentences of pseudo-random words to b.
// Numbers with units are sprinkled in, as in real engineering notes. The
// result is at least n bytes, ends with a full stop, and is plain ASCII.
func appendText(b []byte, r *rand.Rand, n int) []byte {
	start := len(b)
	left := 0 // words left in the current sentence
	for len(b)-start < n {
		first := left == 0
		if first {
			left = 6 + r.IntN(14)
		}
		if len(b) > start {
			b = append(b, ' ')
		}
		switch x := r.IntN(16); x {
		case 0:
			b = strconv.AppendFloat(b, float64(r.IntN(100000))/100, 'f', -1, 64)
			b = append(b, ' ')
		case 1:
			b = strconv.AppendInt(b, int64(r.IntN(4096)), 10)
			b = append(b, ' ')
		}
		w := vocabulary[r.IntN(len(vocabulary))]
		if first && w[0] >= 'a' && w[0] <= 'z' {
			b = append(b, w[0]-'a'+'A')
			w = w[1:]
		}
		b = append(b, w...)
		left--
		if left == 0 {
			b = append(b, '.')
		}
	}
	if b[len(b)-1] != '.' {
		b = append(b, '.')
	}
	return b
}

// titleWords joins k random vocabulary words, each capitalised.
func titleWords(r *rand.Rand, k int) string {
	var b strings.Builder
	for i := 0; i < k; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		w := vocabulary[r.IntN(len(vocabulary))]
		b.WriteString(strings.ToUpper(w[:1]))
		b.WriteString(w[1:])
	}
	return b.String()
}

// slug joins k random vocabulary words with hyphens.
func slug(r *rand.Rand, k int) string {
	parts := make([]string, k)
	for i := range parts {
		parts[i] = vocabulary[r.IntN(len(vocabulary))]
	}
	return strings.Join(parts, "-")
}

// embeddingDim is the dimension of AtoCore's sentence embeddings
// (all-MiniLM-L6-v2) and of the sample Chroma collections.
const embeddingDim = 384

// appendEmbedding appends a unit-length vector of embeddingDim float32 values,
// little-endian, to b.
func appendEmbedding(b []byte, r *rand.Rand) []byte {
	var v [embeddingDim]float32
	var sum float64
	for i := 0; i < embeddingDim; i += 2 {
		u := r.Uint64()
		a := float32(int32(uint32(u))) / (1 << 31)
		c := float32(int32(uint32(u>>32))) / (1 << 31)
		v[i], v[i+1] = a, c
		sum += float64(a)*float64(a) + float64(c)*float64(c)
	}
	inv := float32(1 / math.Sqrt(sum))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x*inv))
	}
	return b
}

// epoch is the fixed start of the sample's timeline, so that timestamps are
// reproducible.
var epoch = time.Date(2025, time.January, 6, 8, 30, 0, 0, time.UTC)

// timeLayout is how AtoCore (SQLite CURRENT_TIMESTAMP) writes timestamps.
const timeLayout = "2006-01-02 15:04:05"

// timestamp returns epoch plus a random offset of up to maxDays days.
func timestamp(r *rand.Rand, maxDays int) time.Time {
	return later(epoch, r, maxDays)
}

// later returns t plus a random offset of up to maxDays days, whole seconds.
func later(t time.Time, r *rand.Rand, maxDays int) time.Time {
	return t.Add(time.Duration(r.Int64N(int64(maxDays)*86400)) * time.Second)
}
