//! MySQL and Redis flags in a service's `command:`: reading them, and working out which
//! words change when a tier's flags are written in.
//!
//! A command is a list of words, as Compose hands them to the container: the items of
//! the list form, or the string form split the way Compose splits it (shell-like words,
//! quotes honoured; v1 uses `shlex.split`, v2 `go-shellwords`). Editing never rebuilds a
//! command: it says, word by word, which to keep, which to change and what to add
//! ([`Slot`]), so other flags, their order and their quoting stay as they were.
//!
//! How each program reads its arguments decides how flags are recognised:
//! - mysqld (`my_getopt`): `--name=value` or `--name value`; `-` and `_` are the same in
//!   option names, and a `loose-` prefix only means "do not fail if unknown". The last
//!   occurrence wins.
//! - redis-server: each argument starting with `--` starts a config line and the
//!   arguments after it are its values, so `--maxmemory 512mb` works as one list item
//!   (the item is copied into the config line as is) or as two. Values given as separate
//!   arguments are quoted one by one, so `--save 900 1` must be one item or three
//!   (`--save`, `900`, `1`), never `--save` + `900 1`. `save` lines add up; `save ""`
//!   clears them.

use std::ops::Range;

use crate::settings::{MysqlSettings, ObservedMysql, ObservedRedis, RedisSettings};
use crate::units::Memory;

/// How a `command:` is written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    List,
    String,
}

/// A word of the new command: an old word kept or changed, or a new one.
/// Old words that appear in no slot are removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    Keep(usize),
    Change(usize, String),
    New(String),
}

/// A flag xzup cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlagError {
    /// The flag as written (its words joined with spaces).
    pub flag: String,
    pub reason: String,
}

/// Which program reads the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Program {
    Mysql,
    Redis,
}

/// One `--name[=value]` option and the words holding it.
#[derive(Debug, Clone)]
struct Opt {
    /// The name as written, without `--`.
    name: String,
    /// The word holding the name.
    word: usize,
    /// The value inside the name's word, after `=` (MySQL) or a space (one list item
    /// holding both, as Redis accepts): the byte length of the part before it, and it.
    inline: Option<(usize, String)>,
    /// The words after the name that are its values.
    values: Range<usize>,
}

impl Opt {
    fn last_word(&self) -> usize {
        self.values.end.max(self.word + 1) - 1
    }
}

/// The options of `words`. Words before the first option (`redis-server`, `mysqld`, a
/// config file) are not options.
fn options(words: &[String], program: Program) -> Vec<Opt> {
    let mut opts = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let Some(body) = word.strip_prefix("--").filter(|b| !b.is_empty()) else {
            i += 1;
            continue;
        };
        let split =
            body.find(|c: char| c.is_whitespace() || (program == Program::Mysql && c == '='));
        let (name, inline) = match split {
            Some(at) => {
                let rest = &body[at..];
                let sep = rest.chars().next().map_or(0, char::len_utf8);
                let value = &rest[sep..];
                // Keep the spaces before the value with the prefix, so a rewrite keeps them.
                let value_trimmed = value.trim_start();
                let prefix = 2 + at + sep + (value.len() - value_trimmed.len());
                (
                    &body[..at],
                    Some((prefix, value_trimmed.trim_end().to_string())),
                )
            }
            None => (body, None),
        };
        let start = i + 1;
        let mut end = start;
        while end < words.len() && !words[end].starts_with('-') {
            end += 1;
        }
        opts.push(Opt {
            name: name.to_string(),
            word: i,
            inline,
            values: start..end,
        });
        i = end;
    }
    opts
}

/// A MySQL option name as mysqld compares it.
fn mysql_key(name: &str) -> String {
    let key = name.to_ascii_lowercase().replace('-', "_");
    match key.strip_prefix("loose_") {
        Some(rest) => rest.to_string(),
        None => key,
    }
}

/// The option's value as mysqld takes it: after `=`, or the next word.
fn mysql_value(opt: &Opt, words: &[String]) -> Option<String> {
    match &opt.inline {
        Some((_, value)) => Some(value.clone()),
        None => words
            .get(opt.values.clone())
            .and_then(|v| v.first())
            .cloned(),
    }
}

/// The option's value words as redis-server takes them: the rest of its own word, then
/// the words after it, each split on spaces.
fn redis_tokens(opt: &Opt, words: &[String]) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    if let Some((_, value)) = &opt.inline {
        tokens.extend(value.split_whitespace().map(str::to_string));
    }
    for word in &words[opt.values.clone()] {
        // A value item is one argument; an empty one is the `""` of `save ""`.
        tokens.push(word.clone());
    }
    tokens
}

fn flag_text(opt: &Opt, words: &[String]) -> String {
    words[opt.word..=opt.last_word()].join(" ")
}

/// The MySQL flags in `words`.
pub(crate) fn read_mysql(words: &[String]) -> Result<ObservedMysql, FlagError> {
    let mut seen = ObservedMysql::default();
    for opt in options(words, Program::Mysql) {
        let key = mysql_key(&opt.name);
        let field = match key.as_str() {
            "max_connections" | "innodb_buffer_pool_size" | "innodb_log_file_size" => key,
            _ => continue,
        };
        let err = |reason: String| FlagError {
            flag: flag_text(&opt, words),
            reason,
        };
        let value = mysql_value(&opt, words).ok_or_else(|| err("it has no value".to_string()))?;
        match field.as_str() {
            "max_connections" => {
                let n = value
                    .parse::<u32>()
                    .map_err(|_| err(format!("`{value}` is not a whole number of connections")))?;
                seen.max_connections = Some(n);
            }
            "innodb_buffer_pool_size" => {
                seen.innodb_buffer_pool_size =
                    Some(Memory::parse_mysql(&value).map_err(|e| err(e.to_string()))?);
            }
            _ => {
                seen.innodb_log_file_size =
                    Some(Memory::parse_mysql(&value).map_err(|e| err(e.to_string()))?);
            }
        }
    }
    Ok(seen)
}

/// `save` values as rules of two numbers each (`"900 1"`), as redis-server reads them.
fn save_rules(tokens: &[String]) -> Option<Vec<String>> {
    if !tokens.len().is_multiple_of(2) {
        return None;
    }
    Some(tokens.chunks(2).map(|pair| pair.join(" ")).collect())
}

/// The Redis flags in `words`.
pub(crate) fn read_redis(words: &[String]) -> Result<ObservedRedis, FlagError> {
    let mut seen = ObservedRedis::default();
    for opt in options(words, Program::Redis) {
        let err = |reason: String| FlagError {
            flag: flag_text(&opt, words),
            reason,
        };
        let tokens = redis_tokens(&opt, words);
        match opt.name.to_ascii_lowercase().as_str() {
            "maxmemory" => {
                let [value] = tokens.as_slice() else {
                    return Err(err("it takes one size, like `1536mb`".to_string()));
                };
                seen.maxmemory = Some(Memory::parse_redis(value).map_err(|e| err(e.to_string()))?);
            }
            "maxmemory-policy" => {
                let [value] = tokens.as_slice() else {
                    return Err(err("it takes one policy, like `allkeys-lru`".to_string()));
                };
                seen.maxmemory_policy = Some(value.clone());
            }
            "save" => {
                // `save ""` (or an empty list item) turns snapshots off.
                if tokens.iter().all(|t| t.is_empty()) {
                    seen.save.clear();
                    continue;
                }
                let rules = save_rules(&tokens).ok_or_else(|| {
                    err("it takes pairs of numbers: seconds and changes, like `900 1`".to_string())
                })?;
                seen.save.extend(rules);
            }
            _ => {}
        }
    }
    Ok(seen)
}

/// The edits to a command, gathered per old word before they are laid out as slots.
struct Edits {
    len: usize,
    changed: Vec<Option<String>>,
    removed: Vec<bool>,
    /// New words after old word `i`; the last entry is for the end.
    after: Vec<Vec<String>>,
}

impl Edits {
    fn new(len: usize) -> Edits {
        Edits {
            len,
            changed: vec![None; len],
            removed: vec![false; len],
            after: vec![Vec::new(); len + 1],
        }
    }

    fn change(&mut self, word: usize, text: String) {
        self.changed[word] = Some(text);
    }

    fn insert_after(&mut self, word: usize, words: Vec<String>) {
        self.after[word].extend(words);
    }

    fn append(&mut self, words: Vec<String>) {
        self.after[self.len].extend(words);
    }

    fn slots(self) -> Vec<Slot> {
        let mut slots = Vec::new();
        for i in 0..self.len {
            if !self.removed[i] {
                slots.push(match &self.changed[i] {
                    Some(text) => Slot::Change(i, text.clone()),
                    None => Slot::Keep(i),
                });
            }
            slots.extend(self.after[i].iter().cloned().map(Slot::New));
        }
        slots.extend(self.after[self.len].iter().cloned().map(Slot::New));
        slots
    }
}

/// Sets a one-value option where it is written: after its `=`, in its own item, or in
/// the word after it; `same` says whether a written value already is the one wanted.
fn set_value(
    edits: &mut Edits,
    opt: &Opt,
    words: &[String],
    value: &str,
    same: impl Fn(&str) -> bool,
    program: Program,
) {
    match &opt.inline {
        Some((prefix, old)) => {
            if !same(old) {
                let word = &words[opt.word];
                edits.change(opt.word, format!("{}{value}", &word[..*prefix]));
            }
        }
        None if !opt.values.is_empty() => {
            if !same(&words[opt.values.start]) {
                edits.change(opt.values.start, value.to_string());
            }
        }
        None => match program {
            // `--max_connections` with nothing after it: mysqld would fail; give it its value.
            Program::Mysql => edits.change(opt.word, format!("{}={value}", words[opt.word])),
            Program::Redis => edits.insert_after(opt.word, vec![value.to_string()]),
        },
    }
}

/// Whether a value written in the file already is the one wanted.
type Same<'a> = Box<dyn Fn(&str) -> bool + 'a>;

/// The slots that write `settings` into a db command of `words`.
pub(crate) fn edit_mysql(words: &[String], settings: &MysqlSettings) -> Vec<Slot> {
    let opts = options(words, Program::Mysql);
    let mut edits = Edits::new(words.len());
    let wanted: [(&str, String, Same); 3] = [
        (
            "max_connections",
            settings.max_connections.to_string(),
            Box::new(|v: &str| v.parse::<u32>() == Ok(settings.max_connections)),
        ),
        (
            "innodb_buffer_pool_size",
            settings.innodb_buffer_pool_size.text.clone(),
            Box::new(|v: &str| {
                Memory::parse_mysql(v).is_ok_and(|m| m == settings.innodb_buffer_pool_size)
            }),
        ),
        (
            "innodb_log_file_size",
            settings.innodb_log_file_size.text.clone(),
            Box::new(|v: &str| {
                Memory::parse_mysql(v).is_ok_and(|m| m == settings.innodb_log_file_size)
            }),
        ),
    ];
    for (key, value, same) in &wanted {
        let found: Vec<&Opt> = opts.iter().filter(|o| mysql_key(&o.name) == *key).collect();
        if found.is_empty() {
            // The plan's spelling: `--max_connections=2000`.
            edits.append(vec![format!("--{key}={value}")]);
        }
        // mysqld takes the last occurrence; write them all so none disagrees.
        for opt in found {
            set_value(&mut edits, opt, words, value, same, Program::Mysql);
        }
    }
    edits.slots()
}

/// Whether new Redis flags go in one word each (`--maxmemory 1536mb`, as the plan writes
/// a list) or split over words (as a string command always is).
fn redis_one_word(form: Form, opts: &[Opt]) -> bool {
    if form == Form::String {
        return false;
    }
    let combined = opts
        .iter()
        .any(|o| o.inline.as_ref().is_some_and(|(_, v)| !v.is_empty()));
    let split = opts
        .iter()
        .any(|o| o.inline.is_none() && !o.values.is_empty());
    combined || !split
}

fn redis_flag(name: &str, value: &str, one_word: bool) -> Vec<String> {
    if one_word {
        vec![format!("--{name} {value}")]
    } else {
        std::iter::once(format!("--{name}"))
            .chain(value.split_whitespace().map(str::to_string))
            .collect()
    }
}

/// The slots that write `settings` into a redis command of `words`.
pub(crate) fn edit_redis(words: &[String], form: Form, settings: &RedisSettings) -> Vec<Slot> {
    let opts = options(words, Program::Redis);
    let one_word = redis_one_word(form, &opts);
    let mut edits = Edits::new(words.len());
    let named = |name: &str| -> Vec<&Opt> {
        opts.iter()
            .filter(|o| o.name.eq_ignore_ascii_case(name))
            .collect()
    };

    let maxmemory = settings.maxmemory.text.as_str();
    let policy = settings.maxmemory_policy.as_str();
    let single: [(&str, &str, Same); 2] = [
        (
            "maxmemory",
            maxmemory,
            Box::new(|v: &str| Memory::parse_redis(v).is_ok_and(|m| m == settings.maxmemory)),
        ),
        (
            "maxmemory-policy",
            policy,
            Box::new(|v: &str| v.eq_ignore_ascii_case(policy)),
        ),
    ];
    for (name, value, same) in &single {
        let found = named(name);
        if found.is_empty() {
            edits.append(redis_flag(name, value, one_word));
        }
        for opt in found {
            set_value(&mut edits, opt, words, value, same, Program::Redis);
        }
    }

    if let Some(rules) = &settings.save {
        edit_save(&mut edits, words, &named("save"), rules, one_word);
    }
    edits.slots()
}

/// Replaces the `--save` rules with `rules`, rule by rule in place, so a file that
/// already has some of them keeps those lines untouched.
fn edit_save(
    edits: &mut Edits,
    words: &[String],
    found: &[&Opt],
    rules: &[String],
    one_word: bool,
) {
    let normal = |rule: &str| rule.split_whitespace().collect::<Vec<_>>().join(" ");
    let current: Option<Vec<String>> = found
        .iter()
        .map(|o| save_rules(&redis_tokens(o, words)))
        .collect::<Option<Vec<_>>>()
        .map(|r| r.concat());
    let wanted: Vec<String> = rules.iter().map(|r| normal(r)).collect();
    if current.as_ref() == Some(&wanted) {
        return;
    }
    for (opt, rule) in found.iter().zip(&wanted) {
        let tokens = redis_tokens(opt, words);
        if tokens.join(" ") == *rule {
            continue;
        }
        match &opt.inline {
            Some((prefix, _)) => {
                let word = &words[opt.word];
                edits.change(opt.word, format!("{}{rule}", &word[..*prefix]));
                for w in opt.values.clone() {
                    edits.removed[w] = true;
                }
            }
            None => {
                let new: Vec<&str> = rule.split_whitespace().collect();
                let old = opt.values.clone();
                for (w, token) in old.clone().zip(&new) {
                    if words[w] != *token {
                        edits.change(w, token.to_string());
                    }
                }
                for w in old.clone().skip(new.len()) {
                    edits.removed[w] = true;
                }
                if new.len() > old.len() {
                    let rest = new[old.len()..].iter().map(|t| t.to_string()).collect();
                    edits.insert_after(opt.last_word(), rest);
                }
            }
        }
    }
    for opt in found.iter().skip(wanted.len()) {
        for w in opt.word..=opt.last_word() {
            edits.removed[w] = true;
        }
    }
    if wanted.len() > found.len() {
        let extra: Vec<String> = wanted[found.len()..]
            .iter()
            .flat_map(|rule| redis_flag("save", rule, one_word))
            .collect();
        match found.last() {
            Some(opt) => edits.insert_after(opt.last_word(), extra),
            None => edits.append(extra),
        }
    }
}

/// The words a command has once `slots` are applied.
pub(crate) fn apply(words: &[String], slots: &[Slot]) -> Vec<String> {
    slots
        .iter()
        .map(|slot| match slot {
            Slot::Keep(i) => words[*i].clone(),
            Slot::Change(_, text) | Slot::New(text) => text.clone(),
        })
        .collect()
}

/// Whether `slots` leave the command as it was.
pub(crate) fn unchanged(len: usize, slots: &[Slot]) -> bool {
    slots.len() == len
        && slots
            .iter()
            .enumerate()
            .all(|(i, s)| matches!(s, Slot::Keep(j) if *j == i))
}

/// The words without the flags a tier sets: what must be the same before and after a
/// render. `save` counts only when the tier sets it.
pub(crate) fn without_tier_flags(words: &[String], redis: bool, with_save: bool) -> Vec<String> {
    let program = if redis {
        Program::Redis
    } else {
        Program::Mysql
    };
    let mut drop = vec![false; words.len()];
    for opt in options(words, program) {
        let tier_flag = if redis {
            let name = opt.name.to_ascii_lowercase();
            name == "maxmemory" || name == "maxmemory-policy" || (with_save && name == "save")
        } else {
            matches!(
                mysql_key(&opt.name).as_str(),
                "max_connections" | "innodb_buffer_pool_size" | "innodb_log_file_size"
            )
        };
        if tier_flag {
            // mysqld takes one value word at most; the rest are not the flag's.
            let last = if redis || opt.inline.is_some() {
                opt.last_word()
            } else {
                opt.values.start.min(opt.last_word())
            };
            for d in &mut drop[opt.word..=last] {
                *d = true;
            }
        }
    }
    words
        .iter()
        .zip(drop)
        .filter(|(_, d)| !d)
        .map(|(w, _)| w.clone())
        .collect()
}

/// Whether the command runs a shell (`sh -c "redis-server …"`): its flags are inside
/// one word xzup cannot safely rewrite.
pub(crate) fn runs_a_shell(words: &[String]) -> bool {
    words.first().is_some_and(|w| {
        let base = w.rsplit('/').next().unwrap_or(w);
        matches!(base, "sh" | "bash" | "ash" | "dash" | "zsh")
    })
}

/// Whether a command written over several lines (a `|` block) is a shell script rather
/// than a program's arguments one per line: shell operators, or a line after the first
/// that is neither a flag nor its value.
pub(crate) fn is_script(text: &str) -> bool {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let operators = ["&&", "||", ";", "|", "&", "`", "$(", ">", "<"];
    lines.len() > 1
        && (lines
            .iter()
            .any(|l| operators.iter().any(|op| l.contains(op)) || l.starts_with("exec "))
            || lines.iter().skip(1).any(|l| !l.starts_with('-')))
}

/// A word of a string command and where it is written in the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    pub span: Range<usize>,
}

/// Splits a string command into words as Compose does (shell-like: spaces separate,
/// quotes group, a backslash escapes). `None` for an unterminated quote.
pub(crate) fn split_string(command: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = command.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut text = String::new();
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            end = i + c.len_utf8();
            match c {
                '\'' => loop {
                    let (i, c) = chars.next()?;
                    end = i + c.len_utf8();
                    if c == '\'' {
                        break;
                    }
                    text.push(c);
                },
                '"' => loop {
                    let (i, c) = chars.next()?;
                    end = i + c.len_utf8();
                    match c {
                        '"' => break,
                        '\\' if chars
                            .peek()
                            .is_some_and(|(_, n)| matches!(n, '"' | '\\' | '$' | '`')) =>
                        {
                            // The closing quote, read next, sets `end`.
                            let (_, n) = chars.next()?;
                            text.push(n);
                        }
                        _ => text.push(c),
                    }
                },
                '\\' => {
                    if let Some((i, n)) = chars.next() {
                        end = i + n.len_utf8();
                        text.push(n);
                    }
                }
                _ => text.push(c),
            }
        }
        tokens.push(Token {
            text,
            span: start..end,
        });
    }
    Some(tokens)
}

/// A word written so a shell-like split gives it back.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_=+:,./@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The string command `command` with `slots` applied: kept words keep their spelling
/// and the spaces before them; new words go after a single space.
pub(crate) fn rewrite_string(command: &str, tokens: &[Token], slots: &[Slot]) -> String {
    rewrite_string_with(command, tokens, slots, |_| " ".to_string())
}

/// [`rewrite_string`] with what goes before each new word chosen by `before_new` (a
/// block command puts a new flag on a line of its own).
pub(crate) fn rewrite_string_with(
    command: &str,
    tokens: &[Token],
    slots: &[Slot],
    before_new: impl Fn(&str) -> String,
) -> String {
    let before = |i: usize| {
        let from = if i == 0 { 0 } else { tokens[i - 1].span.end };
        &command[from..tokens[i].span.start]
    };
    let mut out = String::new();
    for slot in slots {
        match slot {
            Slot::Keep(i) => {
                out.push_str(before(*i));
                out.push_str(&command[tokens[*i].span.clone()]);
            }
            Slot::Change(i, text) => {
                out.push_str(before(*i));
                out.push_str(&shell_quote(text));
            }
            Slot::New(text) => {
                if !out.is_empty() {
                    out.push_str(&before_new(text));
                }
                out.push_str(&shell_quote(text));
            }
        }
    }
    let tail = tokens.last().map_or(command.len(), |t| t.span.end);
    out.push_str(&command[tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn mysql_high() -> MysqlSettings {
        MysqlSettings {
            max_connections: 2000,
            innodb_buffer_pool_size: Memory::parse_mysql("2G").unwrap(),
            innodb_log_file_size: Memory::parse_mysql("256M").unwrap(),
        }
    }

    fn redis_high() -> RedisSettings {
        RedisSettings {
            maxmemory: Memory::parse_redis("1536mb").unwrap(),
            maxmemory_policy: "allkeys-lru".to_string(),
            save: Some(words(&["900 1", "300 10", "60 10000"])),
        }
    }

    fn edited_mysql(list: &[&str]) -> Vec<String> {
        let w = words(list);
        apply(&w, &edit_mysql(&w, &mysql_high()))
    }

    fn edited_redis(list: &[&str], form: Form, settings: &RedisSettings) -> Vec<String> {
        let w = words(list);
        apply(&w, &edit_redis(&w, form, settings))
    }

    #[test]
    fn reads_mysql_flags_in_either_spelling() {
        let seen = read_mysql(&words(&[
            "--character-set-server=utf8mb4",
            "--max-connections=500",
            "--innodb_buffer_pool_size=512M",
            "--loose-innodb-log-file-size",
            "128M",
        ]))
        .unwrap();
        assert_eq!(seen.max_connections, Some(500));
        assert_eq!(seen.innodb_buffer_pool_size.unwrap().bytes, 512 << 20);
        assert_eq!(seen.innodb_log_file_size.unwrap().text, "128M");
    }

    #[test]
    fn mysql_last_occurrence_wins() {
        let seen = read_mysql(&words(&[
            "mysqld",
            "--max_connections=10",
            "--max-connections=20",
        ]))
        .unwrap();
        assert_eq!(seen.max_connections, Some(20));
    }

    #[test]
    fn bad_mysql_values_are_errors_naming_the_flag() {
        let err = read_mysql(&words(&["--max_connections=lots"])).unwrap_err();
        assert_eq!(err.flag, "--max_connections=lots");
        assert_eq!(err.reason, "`lots` is not a whole number of connections");
        let err = read_mysql(&words(&["--innodb_buffer_pool_size=2.5G"])).unwrap_err();
        assert!(err.reason.contains("MySQL size"), "{}", err.reason);
        let err = read_mysql(&words(&["--innodb_log_file_size"])).unwrap_err();
        assert_eq!(err.reason, "it has no value");
    }

    #[test]
    fn reads_redis_flags_in_every_form() {
        let plan = read_redis(&words(&[
            "redis-server",
            "--maxmemory 512mb",
            "--maxmemory-policy allkeys-lru",
            "--save 900 1",
            "--save 300 10",
        ]))
        .unwrap();
        assert_eq!(plan.maxmemory.unwrap().bytes, 512 << 20);
        assert_eq!(plan.maxmemory_policy.as_deref(), Some("allkeys-lru"));
        assert_eq!(plan.save, words(&["900 1", "300 10"]));

        let split = read_redis(&words(&[
            "redis-server",
            "--maxmemory",
            "1gb",
            "--save",
            "60",
            "1000",
            "--save",
            "900",
            "1",
        ]))
        .unwrap();
        assert_eq!(split.maxmemory.unwrap().bytes, 1 << 30);
        assert_eq!(split.save, words(&["60 1000", "900 1"]));

        let many = read_redis(&words(&["--save 900 1 300 10"])).unwrap();
        assert_eq!(many.save, words(&["900 1", "300 10"]));

        let off = read_redis(&words(&["--save 900 1", "--save", ""])).unwrap();
        assert!(off.save.is_empty());
    }

    #[test]
    fn bad_redis_values_are_errors() {
        let err = read_redis(&words(&["redis-server", "--maxmemory", "lots"])).unwrap_err();
        assert_eq!(err.flag, "--maxmemory lots");
        let err = read_redis(&words(&["--save 900"])).unwrap_err();
        assert!(err.reason.contains("pairs"), "{}", err.reason);
    }

    #[test]
    fn mysql_flags_are_replaced_in_place_and_others_kept() {
        assert_eq!(
            edited_mysql(&[
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--max_connections=1000",
                "--innodb_buffer_pool_size=512M",
                "--innodb_log_file_size=128M",
            ]),
            words(&[
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--max_connections=2000",
                "--innodb_buffer_pool_size=2G",
                "--innodb_log_file_size=256M",
            ])
        );
    }

    #[test]
    fn mysql_spelling_and_form_are_kept() {
        assert_eq!(
            edited_mysql(&[
                "mysqld",
                "--max-connections",
                "10",
                "--innodb-buffer-pool-size=1G"
            ]),
            words(&[
                "mysqld",
                "--max-connections",
                "2000",
                "--innodb-buffer-pool-size=2G",
                "--innodb_log_file_size=256M",
            ])
        );
    }

    #[test]
    fn mysql_missing_flags_are_appended() {
        assert_eq!(
            edited_mysql(&[]),
            words(&[
                "--max_connections=2000",
                "--innodb_buffer_pool_size=2G",
                "--innodb_log_file_size=256M",
            ])
        );
    }

    #[test]
    fn equal_values_are_left_as_written() {
        let w = words(&[
            "--max_connections=2000",
            "--innodb_buffer_pool_size=2048M",
            "--innodb_log_file_size=256M",
        ]);
        let slots = edit_mysql(&w, &mysql_high());
        assert!(unchanged(w.len(), &slots), "{slots:?}");

        let w = words(&[
            "redis-server",
            "--maxmemory 1536MB",
            "--maxmemory-policy allkeys-lru",
            "--save 900 1",
            "--save 300  10",
            "--save 60 10000",
        ]);
        let slots = edit_redis(&w, Form::List, &redis_high());
        assert!(unchanged(w.len(), &slots), "{slots:?}");
    }

    #[test]
    fn redis_plan_list_is_edited_item_by_item() {
        let w = words(&[
            "redis-server",
            "--maxmemory 512mb",
            "--maxmemory-policy allkeys-lru",
            "--save 900 1",
            "--save 300 10",
            "--save 60 10000",
        ]);
        let slots = edit_redis(&w, Form::List, &redis_high());
        assert_eq!(
            slots,
            vec![
                Slot::Keep(0),
                Slot::Change(1, "--maxmemory 1536mb".to_string()),
                Slot::Keep(2),
                Slot::Keep(3),
                Slot::Keep(4),
                Slot::Keep(5),
            ]
        );
    }

    #[test]
    fn redis_flags_are_added_in_the_list_style() {
        assert_eq!(
            edited_redis(&["redis-server"], Form::List, &redis_high()),
            words(&[
                "redis-server",
                "--maxmemory 1536mb",
                "--maxmemory-policy allkeys-lru",
                "--save 900 1",
                "--save 300 10",
                "--save 60 10000",
            ])
        );
        // A list that gives values as their own items gets them that way.
        assert_eq!(
            edited_redis(
                &["redis-server", "--appendonly", "yes"],
                Form::List,
                &redis_high()
            ),
            words(&[
                "redis-server",
                "--appendonly",
                "yes",
                "--maxmemory",
                "1536mb",
                "--maxmemory-policy",
                "allkeys-lru",
                "--save",
                "900",
                "1",
                "--save",
                "300",
                "10",
                "--save",
                "60",
                "10000",
            ])
        );
    }

    #[test]
    fn redis_save_rules_are_replaced_in_place() {
        // Fewer rules than the tier: the first is rewritten, the rest added after it.
        assert_eq!(
            edited_redis(
                &[
                    "redis-server",
                    "--save",
                    "60",
                    "1000",
                    "--appendonly",
                    "yes"
                ],
                Form::String,
                &redis_high()
            ),
            words(&[
                "redis-server",
                "--save",
                "900",
                "1",
                "--save",
                "300",
                "10",
                "--save",
                "60",
                "10000",
                "--appendonly",
                "yes",
                "--maxmemory",
                "1536mb",
                "--maxmemory-policy",
                "allkeys-lru",
            ])
        );
        // More rules than the tier: the extra ones go.
        let mut settings = redis_high();
        settings.save = Some(words(&["900 1"]));
        assert_eq!(
            edited_redis(
                &[
                    "redis-server",
                    "--save 900 1",
                    "--save 300 10",
                    "--maxmemory 1536mb"
                ],
                Form::List,
                &settings
            ),
            words(&[
                "redis-server",
                "--save 900 1",
                "--maxmemory 1536mb",
                "--maxmemory-policy allkeys-lru"
            ])
        );
        // No `save` in the tier: the file's rules stay.
        settings.save = None;
        assert_eq!(
            edited_redis(&["redis-server", "--save 1 1"], Form::List, &settings),
            words(&[
                "redis-server",
                "--save 1 1",
                "--maxmemory 1536mb",
                "--maxmemory-policy allkeys-lru"
            ])
        );
    }

    #[test]
    fn tier_flags_are_filtered_for_the_check() {
        let w = words(&[
            "redis-server",
            "--maxmemory",
            "1gb",
            "--appendonly",
            "yes",
            "--save 1 1",
        ]);
        assert_eq!(
            without_tier_flags(&w, true, true),
            words(&["redis-server", "--appendonly", "yes"])
        );
        assert_eq!(
            without_tier_flags(&w, true, false),
            words(&["redis-server", "--appendonly", "yes", "--save 1 1"])
        );
        let w = words(&["mysqld", "--max-connections", "10", "--skip-name-resolve"]);
        assert_eq!(
            without_tier_flags(&w, false, false),
            words(&["mysqld", "--skip-name-resolve"])
        );
    }

    #[test]
    fn string_commands_split_like_a_shell() {
        let tokens = split_string(r#"redis-server  --save "" --x 'a b' c\ d "e\"f""#).unwrap();
        let texts: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            ["redis-server", "--save", "", "--x", "a b", "c d", "e\"f"]
        );
        assert_eq!(tokens[1].span, 14..20);
        assert!(split_string("--x 'open").is_none());
    }

    #[test]
    fn string_commands_are_rewritten_keeping_spacing_and_quotes() {
        let command = "redis-server  --maxmemory 256mb --save 60 1000 --appendonly 'yes'";
        let tokens = split_string(command).unwrap();
        let w: Vec<String> = tokens.iter().map(|t| t.text.clone()).collect();
        let slots = edit_redis(&w, Form::String, &redis_high());
        assert_eq!(
            rewrite_string(command, &tokens, &slots),
            "redis-server  --maxmemory 1536mb --save 900 1 --save 300 10 --save 60 10000 \
             --appendonly 'yes' --maxmemory-policy allkeys-lru"
        );

        let command =
            "--character-set-server=utf8mb4 --max-connections=500 --innodb_buffer_pool_size=256M";
        let tokens = split_string(command).unwrap();
        let w: Vec<String> = tokens.iter().map(|t| t.text.clone()).collect();
        assert_eq!(
            rewrite_string(command, &tokens, &edit_mysql(&w, &mysql_high())),
            "--character-set-server=utf8mb4 --max-connections=2000 \
             --innodb_buffer_pool_size=2G --innodb_log_file_size=256M"
        );
    }

    #[test]
    fn shells() {
        assert!(runs_a_shell(&words(&[
            "/bin/sh",
            "-c",
            "redis-server --maxmemory 1mb"
        ])));
        assert!(!runs_a_shell(&words(&["redis-server"])));
    }
}
