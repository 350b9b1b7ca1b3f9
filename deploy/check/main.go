// Command check validates the deployment files where no container engine
// or cluster runs: docker-compose.yml through compose-go, the loader of
// `docker compose config`, and every Kubernetes manifest by strict
// decoding into the API's types (an unknown or misplaced field fails).
// scripts/test.sh runs it; it is a module of its own so that the service
// does not depend on these libraries.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := run(root); err != nil {
		fmt.Fprintln(os.Stderr, "deploy check:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	services, err := compose(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		return err
	}
	manifests, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*.yaml"))
	if err != nil {
		return err
	}
	if len(manifests) == 0 {
		return errors.New("no Kubernetes manifests under deploy/kubernetes")
	}
	objects := 0
	for _, path := range manifests {
		n, err := kubernetes(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		objects += n
	}
	fmt.Printf("docker-compose.yml: %d services; deploy/kubernetes: %d objects in %d files\n", services, objects, len(manifests))
	return nil
}

// compose loads the file as `docker compose config` does, with its
// consistency checks, and says how many services it has.
func compose(path string) (int, error) {
	opts, err := cli.NewProjectOptions([]string{path}, cli.WithConsistency(true), cli.WithName("airlock"))
	if err != nil {
		return 0, err
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return len(project.Services), nil
}

// kubernetes decodes each document of a manifest strictly into the type
// its kind names.
func kubernetes(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	n := 0
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return n, err
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "apps/v1 DaemonSet":
			obj = &appsv1.DaemonSet{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 Secret":
			obj = &corev1.Secret{}
		default:
			return n, fmt.Errorf("document %d: no check for %s %s", n+1, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return n, fmt.Errorf("%s: %w", head.Kind, err)
		}
		n++
	}
}
