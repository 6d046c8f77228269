package sample_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/atocore/atocore-backup/internal/sample"
)

// Generate with the zero Options makes a small, complete root.
func ExampleGenerate() {
	dir, err := os.MkdirTemp("", "atocore-sample")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	root, err := sample.Generate(context.Background(), dir, sample.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", root.Counts)
	// Output:
	// {Projects:8 Memories:168 Documents:51 Chunks:502}
}
