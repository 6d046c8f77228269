package sample

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"path"
	"strings"
)

// document is one source_documents row with its source_chunks rows.
type document struct {
	ID, Path, Hash, Title, Project, Ingested, Updated string
	Text                                              string // the full text (ShapeText only)
	Chunks                                            []chunk
}

// chunk is one source_chunks row.
type chunk struct {
	ID, Content, Heading string
	Index                int
	Embedding            []byte
}

// memoryRow is one memories row.
type memoryRow struct {
	ID, Type, Content, Status, Created, Updated string
	Project                                     *string
	Confidence                                  float64
}

// corpus is the deterministic stream of rows of a sample AtoCore database.
// Every value comes from one seeded generator, so the same seed yields the
// same rows in the same order whatever the target size.
type corpus struct {
	r        *rand.Rand
	projects []project
}

func newCorpus(seed int64, stream uint64, projects []project) *corpus {
	return &corpus{r: rand.New(rand.NewPCG(uint64(seed), stream)), projects: projects}
}

var (
	vaultFolders = []string{"notes", "design", "meetings", "reviews", "procedures", "analysis", "datasheets", "decisions"}
	extensions   = []string{".md", ".md", ".md", ".md", ".txt", ".pdf"}
	sections     = []string{"Overview", "Requirements", "Design", "Analysis", "Results", "Open Issues", "Actions", "Decisions", "Test Plan", "References"}
	memoryTypes  = []string{"identity", "preference", "project", "project", "episodic", "episodic", "knowledge", "knowledge", "knowledge", "adaptation"}
	statuses     = []string{"active", "active", "active", "active", "active", "active", "active", "active", "superseded", "candidate"}
)

// nextDocument returns the next document of the stream.
func (c *corpus) nextDocument() document {
	r := c.r
	p := c.projects[r.IntN(len(c.projects))]
	title := titleWords(r, 2+r.IntN(4))
	file := path.Join(sourceRoot, "vault", p.ID, vaultFolders[r.IntN(len(vaultFolders))],
		slug(r, 2+r.IntN(3))+extensions[r.IntN(len(extensions))])
	ingested := timestamp(r, 400)
	updated := later(ingested, r, 30)
	d := document{
		ID:       newUUID(r),
		Path:     file,
		Title:    title,
		Project:  p.ID,
		Ingested: ingested.Format(timeLayout),
		Updated:  updated.Format(timeLayout),
		Chunks:   make([]chunk, 1+r.IntN(16)),
	}
	h := sha256.New()
	section := sections[r.IntN(len(sections))]
	for i := range d.Chunks {
		if r.IntN(3) == 0 {
			section = sections[r.IntN(len(sections))]
		}
		heading := title + " > " + section
		if r.IntN(2) == 0 {
			heading += " > " + titleWords(r, 1+r.IntN(3))
		}
		text := appendText(nil, r, 200+r.IntN(800))
		h.Write(text)
		h.Write([]byte("\n\n"))
		d.Chunks[i] = chunk{
			ID:        newUUID(r),
			Index:     i,
			Content:   string(text),
			Heading:   heading,
			Embedding: appendEmbedding(make([]byte, 0, 4*embeddingDim), r),
		}
	}
	d.Hash = hex.EncodeToString(h.Sum(nil))
	return d
}

// sha256Hex is the hex SHA-256 of s: a document's file_hash.
func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// nextMemory returns the next memory of the stream.
func (c *corpus) nextMemory() memoryRow {
	r := c.r
	m := memoryRow{
		ID:         newUUID(r),
		Type:       memoryTypes[r.IntN(len(memoryTypes))],
		Status:     statuses[r.IntN(len(statuses))],
		Confidence: float64(50+r.IntN(51)) / 100,
	}
	switch m.Type {
	case "project", "episodic", "knowledge":
		if r.IntN(5) != 0 {
			id := c.projects[r.IntN(len(c.projects))].ID
			m.Project = &id
		}
	}
	m.Content = string(appendText(nil, r, 60+r.IntN(340)))
	created := timestamp(r, 400)
	m.Created = created.Format(timeLayout)
	m.Updated = later(created, r, 20).Format(timeLayout)
	return m
}

// projectRows returns the first n projects of the catalogue with their
// creation times.
func projectRows(n int) []project {
	if n > len(catalogue) {
		n = len(catalogue)
	}
	return catalogue[:n]
}

// sourceRoots lists where a project's sources are ingested from.
func sourceRoots(p project) []string {
	return []string{
		path.Join(sourceRoot, "vault", p.ID),
		path.Join(sourceRoot, "drive", strings.ToUpper(p.ID[:3])+strings.ReplaceAll(p.ID[3:], "-", "_")),
	}
}
