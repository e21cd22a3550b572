//! The lossless (yaml-edit) tree of a compose file's text, and its text back, without
//! formatting it token by token (a 20 MB file has millions of tokens: issue 10).

use std::str::FromStr;

use rowan::ast::AstNode;
use yaml_edit::YamlFile;

/// The lossless (yaml-edit) tree of `text`, checked to give `text` back byte for byte.
pub(crate) fn lossless_tree(text: &str) -> Result<rowan::GreenNode, String> {
    let yaml = YamlFile::from_str(text)
        .map_err(|e| format!("the lossless YAML editor cannot read it: {e}"))?;
    let tree = yaml.syntax().green().into_owned();
    drop(yaml);
    if !text_is(&tree, text) {
        return Err("the lossless YAML editor does not give the file back unchanged".to_string());
    }
    Ok(tree)
}

/// The tokens of `tree` in order (an explicit stack: nesting is the file's to choose).
fn for_each_token(tree: &rowan::GreenNodeData, mut f: impl FnMut(&str) -> bool) {
    let mut stack = vec![tree.children()];
    while let Some(top) = stack.last_mut() {
        match top.next() {
            Some(rowan::NodeOrToken::Node(n)) => stack.push(n.children()),
            Some(rowan::NodeOrToken::Token(t)) => {
                if !f(t.text()) {
                    return;
                }
            }
            None => {
                stack.pop();
            }
        }
    }
}

/// The text of `tree` (what `to_string` gives, without formatting it token by token).
pub(crate) fn text_of(tree: &rowan::GreenNodeData) -> String {
    let mut out = String::with_capacity(u32::from(tree.text_len()) as usize);
    for_each_token(tree, |t| {
        out.push_str(t);
        true
    });
    out
}

/// Whether the text of `tree` is `text`, compared as it is walked.
fn text_is(tree: &rowan::GreenNodeData, text: &str) -> bool {
    if u32::from(tree.text_len()) as usize != text.len() {
        return false;
    }
    let mut rest = text.as_bytes();
    let mut same = true;
    for_each_token(tree, |t| {
        match rest.strip_prefix(t.as_bytes()) {
            Some(r) => rest = r,
            None => same = false,
        }
        same
    });
    same && rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_gives_the_text_back() {
        let text = "# top\nservices:\n  a:   {image: x}  # c\n  b:\n    - \"q\"\n";
        let tree = lossless_tree(text).unwrap();
        assert_eq!(text_of(&tree), text);
        assert!(text_is(&tree, text));
        assert!(!text_is(&tree, &text.replace('x', "y")));
        assert!(!text_is(&tree, &text[1..]));
        let yaml = YamlFile::from_str(text).unwrap();
        assert_eq!(text_of(&yaml.syntax().green()), yaml.to_string());
    }
}
