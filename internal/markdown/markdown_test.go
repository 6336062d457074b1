package markdown

import "testing"

func TestBlocks(t *testing.T) {
	md := "x\n```yaml\na: 1\n```\n```yaml-fragment\nb: 2\n```\n```yaml title=\"t\"\nc: 3\n```\n~~~yaml\nd: 4\n~~~\n```text\ne\n```\n"
	got := Blocks(md, "yaml")
	if len(got) != 2 || got[0].Text != "a: 1\n" || got[0].Line != 3 || got[1].Text != "d: 4\n" {
		t.Errorf("Blocks = %+v", got)
	}
	// An unclosed fence runs to the end of the file.
	if got := Blocks("```yaml\na: 1", "yaml"); len(got) != 1 || got[0].Text != "a: 1\n" {
		t.Errorf("unclosed fence: %+v", got)
	}
}
