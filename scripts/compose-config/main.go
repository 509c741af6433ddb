// compose-config prints docker-compose.yml as `docker compose config --format json` would: it loads
// it with compose-go, the library docker compose itself uses (the compose-spec schema, .env
// interpolation, env_file, consistency checks). For machines without a Docker engine; used by
// scripts/check-compose.ts.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-config <folder with docker-compose.yml and .env>")
		os.Exit(2)
	}
	dir := os.Args[1]
	options, err := cli.NewProjectOptions([]string{dir + "/docker-compose.yml"},
		cli.WithWorkingDirectory(dir), cli.WithOsEnv, cli.WithEnvFiles(), cli.WithDotEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
