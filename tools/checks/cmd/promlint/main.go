// Command promlint lints a Prometheus text exposition (read from stdin) with the linter of
// github.com/prometheus/client_golang (what `promtool check metrics` runs): every family
// needs HELP, counters end in _total, units are base units, and so on. It prints one line
// per problem and fails when there is any.
package main

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

func main() {
	problems, err := promlint.New(os.Stdin).Lint()
	if err != nil {
		fmt.Fprintln(os.Stderr, "promlint: cannot parse the exposition:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Printf("%s: %s\n", p.Metric, p.Text)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}
