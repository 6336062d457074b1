// Package markdown reads what the docs tests check in Markdown files: the
// fenced code blocks.
package markdown

import "strings"

// Block is a fenced code block.
type Block struct {
	// Line is the line of the block's first content line in the file
	// (1-based), for error messages that point into the Markdown.
	Line int
	Text string
}

// Blocks returns the fenced blocks (``` or ~~~) whose info string is
// exactly info: "yaml" takes ```yaml, not ```yaml-fragment or
// ```yaml title="x" (the docs mark fragments that way on purpose).
func Blocks(md, info string) []Block {
	var out []Block
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "```") && !strings.HasPrefix(l, "~~~") {
			continue
		}
		fence := l[:3]
		got := strings.TrimSpace(strings.TrimLeft(l, fence[:1]))
		j := i + 1
		for j < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[j]), fence) {
			j++
		}
		if got == info {
			out = append(out, Block{Line: i + 2, Text: strings.Join(lines[i+1:j], "\n") + "\n"})
		}
		i = j
	}
	return out
}
