// Starter programs: one per language, and the function-mode example for
// the languages that have it. Each reads stdin or its arguments, so the
// panes beside the editor do something at once.
"use strict";

const snippets = {
  script: {
    python: `import sys

name = sys.stdin.read().strip() or "world"
print(f"Hello, {name}!")
print("arguments:", sys.argv[1:])
`,
    javascript: `const name = require("fs").readFileSync(0, "utf8").trim() || "world";
console.log(\`Hello, \${name}!\`);
console.log("arguments:", process.argv.slice(2));
`,
    typescript: `const greet = (name: string): string => \`Hello, \${name}!\`;
console.log(greet("world"));
`,
    c: `#include <stdio.h>

int main(int argc, char **argv) {
    char name[64] = "world";
    if (scanf("%63s", name) != 1) { /* keep the default */ }
    printf("Hello, %s!\\n", name);
    printf("%d argument(s)\\n", argc - 1);
    return 0;
}
`,
    cpp: `#include <iostream>
#include <string>

int main() {
    std::string name;
    if (!(std::cin >> name)) name = "world";
    std::cout << "Hello, " << name << "!" << std::endl;
}
`,
    go: `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("Hello, world!")
	fmt.Println("arguments:", os.Args[1:])
}
`,
    java: `import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        String name = in.hasNext() ? in.next() : "world";
        System.out.println("Hello, " + name + "!");
    }
}
`,
    rust: `use std::io::Read;

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).unwrap();
    let name = if input.trim().is_empty() { "world" } else { input.trim() };
    println!("Hello, {}!", name);
}
`,
    bash: `read -r name || true
echo "Hello, \${name:-world}!"
echo "arguments: $*"
`,
    perl: `my $name = <STDIN> // "world";
chomp $name;
print "Hello, $name!\\n";
`,
    project: `# The run script of a multi-file program (Judge0's language 89). Through
# the API it comes with its other files and, optionally, a "compile" script;
# both may call any installed toolchain.
read -r name || true
python3 -c 'import sys; print("Hello, " + (sys.argv[1] or "world") + "!")' "$name"
`,
  },
  function: {
    python: `def calculate(inputs):
    """Midspan deflection of a simply supported beam, in SI units."""
    p, l = inputs["load_n"], inputs["length_m"]
    e, i = inputs["youngs_modulus_pa"], inputs["moment_of_inertia_m4"]
    deflection = p * l**3 / (48 * e * i)
    return {"deflection_mm": round(deflection * 1000, 3),
            "ok": deflection < l / 360}
`,
    javascript: `// Midspan deflection of a simply supported beam, in SI units.
function calculate({ load_n: p, length_m: l, youngs_modulus_pa: e, moment_of_inertia_m4: i }) {
  const deflection = p * l ** 3 / (48 * e * i);
  return { deflection_mm: Math.round(deflection * 1e6) / 1e3, ok: deflection < l / 360 };
}
module.exports = { calculate };
`,
  },
  inputs: `{
  "load_n": 12000,
  "length_m": 6,
  "youngs_modulus_pa": 210e9,
  "moment_of_inertia_m4": 8.36e-5
}`,
  // A language without a starter gets this.
  fallback: "",
};
