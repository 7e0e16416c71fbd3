"""The parser on small fixtures: structure, calls, locks, members and recovery from nasty input."""

from pathlib import Path

import pytest

from analyzers.model import ATKW, CHAR, IDENT, NUMBER, PREPROC, PUNCT, STRING, FileModel
from analyzers.parse import parse_file

FIXTURES = Path(__file__).parent / "fixtures" / "parse"


def parse(name: str) -> FileModel:
    return parse_file(FIXTURES / name, name)


def scope_named(model: FileModel, name: str):
    return next(s for s in model.scopes() if s.name == name)


def locks(model: FileModel, function: str):
    fn = scope_named(model, function)
    return [r for s in fn.walk() for r in s.locks]


# ---- ObjC++ -------------------------------------------------------------------------------------

def test_objc_containers_and_methods():
    m = parse("objc_stream.mm")
    assert [s.name for s in m.scopes("class")] == ["MPSThing", "MPSThing", "MPSThing"]
    names = [s.name for s in m.scopes("function")]
    assert names == ["-[MPSThing runOn:count:]", "+[MPSThing shared]", "at::mps::Stream::submit",
                     "-[MPSThing guarded]", "encode"]
    members = {(mb.owner, mb.name): mb for mb in m.members}
    assert members["MPSThing", "_device"].type == "id<MTLDevice>"
    assert members["MPSThing", "enabled"].annotations == ["@property(readwrite,atomic)"]


def test_dispatch_scopes_queue_kind_and_escaping():
    m = parse("objc_stream.mm")
    dispatch = {s.dispatch: s for s in m.scopes("dispatch")}
    assert set(dispatch) == {"dispatch_sync", "dispatch_sync_with_rethrow", "dispatch_async",
                             "dispatch_barrier_sync"}
    assert dispatch["dispatch_sync_with_rethrow"].queue == "stream->queue()"
    assert dispatch["dispatch_sync"].queue == "queue"
    assert dispatch["dispatch_barrier_sync"].queue == "_graphQueue"
    assert dispatch["dispatch_async"].escaping and not dispatch["dispatch_sync"].escaping
    assert scope_named(m, "-[MPSThing runOn:count:]") is dispatch["dispatch_sync"].function()


def test_completion_handler_blocks_escape():
    m = parse("objc_stream.mm")
    blocks = [b for b in m.scopes("block") if b.function().name == "at::mps::Stream::submit"]
    assert [(b.handler, b.escaping) for b in blocks] == [
        ("addCompletedHandler:", True), ("addScheduledHandler:", True), ("addCompletedHandler:", True)]
    # the first two run inside the dispatch_sync_with_rethrow block; they start with no queue held
    assert blocks[0].parent.kind == "dispatch"
    assert m.queues_at(blocks[0]) == ["stream->queue()"]


def test_objc_message_sends():
    m = parse("objc_stream.mm")
    sends = {c.selector: c for c in m.calls() if c.objc}
    assert sends["setBuffer:offset:atIndex:"].receiver == "enc"
    assert sends["setBuffer:offset:atIndex:"].args == ("buf", "0", "1")
    assert sends["setBuffer:offset:atIndex:"].name == "setBuffer"
    assert sends["computeCommandEncoder"].receiver == "stream->commandBuffer()"
    assert sends["commit"].receiver == "cb"
    assert sends["init"].receiver == "[MPSThing alloc]"
    assert sends["addCompletedHandler:"].scope.kind == "dispatch"
    assert sends["setBytes:length:atIndex:"].args == ("big?&large:&small", "big?sizeof(large):sizeof(small)", "0")
    assert sends["stringWithFormat:"].args == ('@"%d",3',)


def test_cpp_calls_with_receivers():
    m = parse("objc_stream.mm")
    calls = {c.callee: c for c in m.calls() if not c.objc}
    assert calls["stream->queue"].receiver == "stream" and calls["stream->queue"].name == "queue"
    assert calls["stream->addCompletedHandler"].args == ("^(id<MTLCommandBuffer>){...}",)
    assert "dispatch_sync_with_rethrow" in calls
    tok = m.tokens[calls["stream->queue"].token]
    assert (tok.text, tok.line) == ("stream", calls["stream->queue"].line)


# ---- locks --------------------------------------------------------------------------------------

def test_lock_guard_regions_end_with_their_scope():
    m = parse("locks.cpp")
    outer, inner = locks(m, "demo::Pool::guarded")
    assert (outer.lock, outer.kind, outer.var, outer.line, outer.end_line) == ("m_mutex", "lock_guard", "lock", 20, 26)
    assert (inner.lock, inner.line, inner.end_line) == ("other_mutex", 23, 25)   # brace-initialised
    fn = scope_named(m, "demo::Pool::guarded")
    call = [c for c in fn.all_calls() if c.name == "touch"][1]
    assert [r.lock for r in m.held_locks(call.scope, call.line)] == ["m_mutex", "other_mutex"]


def test_unique_lock_unlock_and_relock():
    m = parse("locks.cpp")
    first, second = locks(m, "demo::Pool::relock")
    assert (first.line, first.end_line, first.released_by) == (29, 31, "unlock")
    assert (second.line, second.end_line, second.released_by, second.var) == (33, 35, "scope", "lk")
    fn = scope_named(m, "demo::Pool::relock")
    wait = next(c for c in fn.calls if c.name == "wait_gpu")
    assert m.held_locks(fn, wait.line) == []


def test_scoped_shared_and_deferred_locks():
    m = parse("locks.cpp")
    regions = locks(m, "demo::Pool::scoped")
    assert [(r.lock, r.kind, r.shared) for r in regions] == [
        ("m_mutex", "scoped_lock", False), ("pool->mutex_", "scoped_lock", False), ("rw_", "shared_lock", True)]


def test_deferred_unique_lock_starts_at_lock_call():
    m = parse("locks.cpp")
    assert [(r.lock, r.kind, r.var, r.line, r.end_line) for r in locks(m, "Pool::deferred")] == [
        ("m2", "unique_lock", "later", 69, 71)]


def test_manual_lock_pairs_and_unbalanced():
    m = parse("locks.cpp")
    (paired,) = locks(m, "demo::Pool::manual")
    assert (paired.kind, paired.line, paired.end_line, paired.released_by) == ("manual", 44, 46, "unlock")
    (dangling,) = locks(m, "demo::Pool::unbalanced")
    assert (dangling.line, dangling.released_by) == (53, "none")
    assert dangling.end_line == scope_named(m, "demo::Pool::unbalanced").end_line


def test_call_once_regions():
    m = parse("locks.cpp")
    regions = locks(m, "demo::Pool::once")
    assert [(r.lock, r.kind, r.line, r.end_line) for r in regions] == [
        ("flag", "call_once", 58, 60), ("init_flag_", "call_once", 61, 61)]


def test_synchronized_and_dispatch_once():
    m = parse("objc_stream.mm")
    regions = locks(m, "-[MPSThing guarded]")
    assert sorted((r.lock, r.kind, r.line, r.end_line) for r in regions) == [
        ("onceToken", "call_once", 56, 58), ("self", "synchronized", 52, 54)]
    static = next(mb for mb in m.members if mb.name == "onceToken")
    assert (static.static, static.function) == (True, "-[MPSThing guarded]")


# ---- lambdas ------------------------------------------------------------------------------------

def test_lambdas_captures_and_escaping():
    m = parse("lambdas.cpp")
    lambdas = list(m.scopes("lambda"))
    assert [(s.line, s.captures, s.escaping) for s in lambdas] == [
        (5, ["this", "&stream"], True),      # std::thread worker(...)
        (6, ["="], True),                    # std::async
        (7, ["&x", "y"], False),
        (8, [], False),                      # std::sort comparator
        (11, ["self"], True),                # std::thread(...).detach()
    ]
    assert not list(m.scopes("compound"))    # `int arr[3] = {1, 2, 3}` is an initializer


# ---- members and statics ------------------------------------------------------------------------

def test_members_annotations_and_statics():
    m = parse("members.h")
    by_name = {mb.name: mb for mb in m.members}
    owner = "at::mps::MPSHeapAllocatorImpl"
    assert (by_name["m_mutex"].type, by_name["m_mutex"].owner, by_name["m_mutex"].static) == (
        "std::recursive_mutex", owner, False)
    assert by_name["m_blocks"].annotations == ["GUARDED_BY(m_mutex)"]
    assert by_name["m_blocks"].type == "std::map<int,BufferBlock*>"
    assert by_name["m_total"].annotations == ["__attribute__((guarded_by(m_mutex)))"]
    assert by_name["instance"].static and by_name["instance"].owner == owner
    assert by_name["inner_mutex_"].owner == owner + "::Inner"
    assert by_name["g_registry_mutex"].static and by_name["g_registry_mutex"].owner == ""
    assert {"g_counter", "g_other", "g_init_flag"} <= set(by_name)
    assert (by_name["impl"].static, by_name["impl"].function) == (True, "at::mps::allocator")
    assert "count" not in by_name and "MPSHeapAllocatorImpl" not in by_name   # methods are not members
    assert [s.name for s in m.scopes("class")] == [owner, owner + "::Inner"]
    assert not [c for c in m.calls() if c.name == "guarded_by"]


# ---- nasty input --------------------------------------------------------------------------------

def test_unbalanced_braces_recover_with_diagnostics():
    m = parse("unbalanced.cpp")
    messages = [(d.kind, d.line, d.message) for d in m.diagnostics]
    assert ("parse", 8, "function definition 'second' inside a function body: "
                        "a '}' is probably missing above") in messages
    assert any(d.kind == "parse" and d.line == 14 and "closed implicitly" in d.message for d in m.diagnostics)
    assert any(d.kind == "parse" and d.line == 17 and "not closed" in d.message for d in m.diagnostics)
    assert [s.name for s in m.scopes("function")] == ["first", "third", "fourth"]
    assert {c.name for c in m.calls()} >= {"call_a", "call_b", "call_c", "call_d"}


def test_preprocessor_branches():
    m = parse("ifelse.cpp")
    assert [s.name for s in m.scopes("function")] == ["platform", "replaced_live", "feature_on"]
    assert "never_called" not in {c.name for c in m.calls()}
    assert not m.diagnostics


def test_unbalanced_preprocessor_is_a_diagnostic(tmp_path):
    src = tmp_path / "pp.cpp"
    src.write_text("#endif\n#if X\nvoid f() {}\n")
    m = parse_file(src, "pp.cpp")
    assert [(d.kind, d.line) for d in m.diagnostics] == [("preprocessor", 1), ("preprocessor", 2)]
    assert [s.name for s in m.scopes("function")] == ["f"]


def test_macros_raw_strings_chars_and_comments():
    m = parse("macros.cpp")
    assert [s.name for s in m.scopes("function")] == ["add_out_mps", "TORCH_LIBRARY_IMPL", "after_raw"]
    assert not m.diagnostics
    assert any("}}}}" in t.text for t in m.tokens if t.kind == STRING)
    assert [c.text for c in m.comments if "}" in c.text or "{" in c.text] == [
        "// } in a comment", "/* { in a block comment */"]
    assert m.comment_on(22) == ["// } in a comment"]


def test_non_utf8_bytes_are_replaced_with_a_diagnostic():
    m = parse("nonutf8.cpp")
    assert [(d.kind, d.line) for d in m.diagnostics] == [("encoding", 2)]
    assert any("\ufffd" in t.text for t in m.tokens if t.line == 2)
    assert [s.name for s in m.scopes("function")] == ["latin1"]


def test_data_argument_and_unreadable_file(tmp_path):
    m = parse_file(tmp_path / "virtual.mm", "virtual.mm", data=b"void f() { g(); }\n")
    assert [c.name for c in m.calls()] == ["g"]
    missing = parse_file(tmp_path / "missing.mm", "missing.mm")
    assert [d.kind for d in missing.diagnostics] == ["io"]


@pytest.mark.parametrize("text", ["", "}", ")))", "{{{", "#if 0\n", "@interface X", "[x", "^{", "R\"x(",
                                  "'", "\"", "/*", "a->", "::", "- (void)f {", "template <", "@end"])
def test_garbage_never_raises(tmp_path, text):
    m = parse_file(tmp_path / "g.mm", "g.mm", data=text.encode())
    assert m.root.kind == "file"


# ---- lexer --------------------------------------------------------------------------------------

def test_token_kinds_prefixes_and_numbers():
    from analyzers.lexer import lex
    toks = lex('x = .5f + u8"s" + L\'c\' + R"d(a)"b)d" + @"o"; a /= b / *p; @end 0x1F\'00').tokens
    assert [(t.kind, t.text) for t in toks] == [
        (IDENT, "x"), (PUNCT, "="), (NUMBER, ".5f"), (PUNCT, "+"), (STRING, 'u8"s"'), (PUNCT, "+"),
        (CHAR, "L'c'"), (PUNCT, "+"), (STRING, 'R"d(a)"b)d"'), (PUNCT, "+"), (STRING, '@"o"'),
        (PUNCT, ";"), (IDENT, "a"), (PUNCT, "/="), (IDENT, "b"), (PUNCT, "/"), (PUNCT, "*"),
        (IDENT, "p"), (PUNCT, ";"), (ATKW, "@end"), (NUMBER, "0x1F'00")]


def test_positions_after_multiline_tokens():
    from analyzers.lexer import lex
    lexed = lex('/* a\n b */ x\n#define M \\\n  y\n"s" z\n')
    assert [(t.text, t.line, t.col) for t in lexed.tokens] == [
        ("x", 2, 7), ("#define M \\\n  y", 3, 1), ('"s"', 5, 1), ("z", 5, 5)]
    assert [(c.line, c.col) for c in lexed.comments] == [(1, 1)]


def test_elif_chains_keep_one_branch():
    from analyzers.lexer import lex
    src = "#if 0\na\n#elif 0\nb\n#elif X\nc\n#else\nd\n#endif\n#if 1\ne\n#else\nf\n#endif\n"
    assert [t.text for t in lex(src).tokens if t.kind == IDENT] == ["c", "e"]


def test_scanner_uses_grammar_terminals():
    from analyzers.lexer import scanner
    names = set(scanner().groupindex)
    assert {"IDENT", "PUNCT", "STRING", "RAWSTRING", "PREPROC", "ATKW", "LINE_COMMENT", "WS"} <= names


def test_operators_extern_c_and_templates():
    m = parse("operators.cpp")
    assert [s.name for s in m.scopes("function")] == [
        "c_entry", "in_block", "Key::operator==", "Key::operator()", "Key::operator bool", "Key::~Key", "Box::get"]
    assert [s.name for s in m.scopes("class")] == ["Key", "Box"]
    assert [(mb.owner, mb.name, mb.type) for mb in m.members] == [("Key", "id", "int"), ("Box", "value_", "T")]


def test_heads_that_look_like_something_else():
    m = parse("templates.cpp")
    assert not m.diagnostics
    assert [s.name for s in m.scopes("function")] == [
        "functor_storage::operator()", "set_arg", "Table::fill", "Table::getter::get", "type_caster::load",
        "Pool::Pool", "holder_caster::cast", "Int::int_val"]
    ctor = scope_named(m, "Pool::Pool")
    assert [c.name for c in ctor.calls] == ["make_blocks", "init"]      # the initializer list runs in it
    assert [(r.lock, r.line, r.end_line) for r in ctor.locks] == [("m_mutex", 33, 35)]
    assert [s.name for s in m.scopes("class")] == [
        "functor_storage", "Table", "Table::getter", "type_caster", "holder_caster", "Int"]


@pytest.mark.parametrize("text", ["(" * 3000, "{" * 3000, "[" * 3000, "^{" * 1000, "void f() {" + "if (x) {" * 600])
def test_absurd_nesting_is_a_diagnostic_not_a_crash(tmp_path, text):
    m = parse_file(tmp_path / "deep.mm", "deep.mm", data=text.encode())
    messages = [d.message for d in m.diagnostics]
    assert "brackets nested deeper than 150: the inner code is not analysed" in messages
    assert len(messages) == 2
    assert any(m.startswith("'") and "not closed before end of file (" in m and m.endswith(" times, first here)")
               for m in messages)


def test_many_distinct_parse_problems_are_capped(tmp_path):
    m = parse_file(tmp_path / "bad.cpp", "bad.cpp", data=b"{(\n}\n" * 30)
    messages = [d.message for d in m.diagnostics]
    assert len(messages) == 21 and messages[-1] == "10 more parse problems not shown"
    assert messages[0] == "'(' closed implicitly by '}' on line 2"


# ---- gaps other helpers worked around (each fixture failed before its fix) ----------------------

def members_of(model: FileModel, owner: str) -> dict:
    return {mb.name: mb for mb in model.members if mb.owner == owner}


def test_capability_class_heads_are_classes_with_members():
    m = parse("tsa_classes.cpp")
    assert [s.name for s in m.scopes("class")] == ["Mutex", "Resource", "Counter", "Widget"]
    assert not list(m.scopes("function"))
    assert set(members_of(m, "Mutex")) == {"state_"} and set(members_of(m, "Resource")) == {"handle_"}


def test_bare_annotation_after_declarator_is_an_annotation():
    v = members_of(parse("tsa_classes.cpp"), "Counter")["v"]
    assert (v.type, v.annotations) == ("int", ["GUARDED_VAR"])


def test_annotated_members_with_initializers():
    m = parse("tsa_classes.cpp")
    counter = members_of(m, "Counter")
    assert list(counter) == ["mu", "v", "h", "m", "plain"]
    assert (counter["h"].type, counter["h"].annotations) == ("size_t", ["GUARDED_BY(mu)"])
    assert (counter["m"].type, counter["m"].annotations) == ("Table", ["GUARDED_BY(mu)"])
    assert "Counter::h" not in [s.name for s in m.scopes()]     # `h GUARDED_BY(mu){0}` is no class


def test_member_function_declarations_are_not_calls():
    m = parse("tsa_classes.cpp")
    in_classes = [c.name for s in m.scopes("class") for c in s.calls]
    # statement-level macros and initializers stay calls; declarations and their annotations do not
    assert in_classes == ["C10_DISABLE_COPY_AND_ASSIGN", "compute", "make"]


def test_closure_scopes_start_at_their_introducer():
    m = parse("split_manual.cpp")
    lam, = m.scopes("lambda")
    block, = m.scopes("dispatch")
    assert (lam.line, lam.col, block.line, block.col) == (22, 12, 25, 21)     # the `[` and the `^`
    assert m.tokens[lam.first_token - 1].text == "{" and m.tokens[block.first_token - 1].text == "{"


def test_manual_lock_in_one_if_held_until_unlock_in_another():
    m = parse("split_manual.cpp")
    run = scope_named(m, "run")
    assert [(r.lock, r.line, r.end_line, r.released_by) for r in m.held_locks(run, 7)] == [("m", 5, 9, "unlock")]
    assert m.held_locks(run, 11) == []
    forgets = scope_named(m, "forgets")
    assert [(r.lock, r.end_line, r.released_by) for r in m.held_locks(forgets, 18)] == [("n", 19, "none")]


def test_manual_unlock_on_an_early_return_path_does_not_end_the_region():
    m = parse("split_manual.cpp")
    fn = scope_named(m, "early_return")
    assert [(r.lock, r.line, r.end_line, r.released_by) for r in m.held_locks(fn, 36)] == [("k", 31, 37, "unlock")]


def test_out_of_line_static_member_definitions_are_members():
    m = parse("out_of_line.cpp")
    got = [(mb.owner, mb.name, mb.type, mb.static) for mb in m.members]
    assert got == [("at::mps::MPSAllocator", "s_instance", "MPSAllocator*", True),
                   ("at::mps::MPSAllocator", "s_mutex", "std::mutex", True),
                   ("at::mps::Other", "count", "int", True),
                   ("at::mps::Cache", "s_list", "std::vector<int>", True),
                   ("Names", "kName", "const char*const", True),
                   ("", "g_plain", "int", True)]       # `int Plain::method(int);` declares a function


def test_raii_guards_of_other_libraries_are_lock_regions():
    m = parse("raii_guards.cpp")
    got = {fn: [(r.lock, r.kind, r.var, r.line, r.end_line) for r in locks(m, f"Thing::{fn}")] for fn in "abcd"}
    assert got == {"a": [("mu_", "guard", "l", 4, 6)], "b": [("mu_", "guard", "guard", 8, 10)],
                   "c": [("other_mu_", "guard", "lock", 12, 14)],
                   "d": []}     # DeviceGuard / StreamGuard over a device or stream are not locks


# ---- token columns ------------------------------------------------------------------------------

def test_token_lines_and_columns_take_two_bytes_where_they_fit():
    from analyzers.lexer import lex
    short = lex("int f() {\n  return g(1);\n}\n").tokens
    assert (short.lines.typecode, short.cols.typecode) == ("H", "H")
    assert short[4] == (PUNCT, "{", 1, 9) and list(short.lines) == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3]
    wide = lex(" " * 70_000 + "int x;\n" + "\n" * 3 + "int y;\n").tokens     # a column over 65535
    assert wide.cols.typecode == "i" and wide.lines.typecode == "H"
    assert wide[0] == (IDENT, "int", 1, 70_001) and wide[-1] == (PUNCT, ";", 5, 6)


def test_token_kinds_are_one_str_of_a_character_each():
    from analyzers.lexer import lex
    from analyzers.model import Token, Tokens
    toks = lex('x = @"s" + 1; // c\n#define A\n').tokens
    assert toks.kinds == IDENT + PUNCT + STRING + PUNCT + NUMBER + PUNCT + PREPROC
    with pytest.raises(ValueError, match="one character"):
        Tokens.of([Token("IDENT", "x", 1, 1)])      # kind names would make the column misread every token


def test_a_finished_model_keeps_tuples_not_lists():
    from analyzers.parse import parse_text
    m = parse_text("void f(int a) { std::lock_guard<std::mutex> g(mu); g2(a, 1); if (a) { h(); } }\n", "t.cpp")
    scopes = list(m.scopes())
    assert all(type(s.children) is tuple and type(s.calls) is tuple and type(s.locks) is tuple for s in scopes)
    calls = [c for s in scopes for c in s.calls]
    assert calls and all(type(c.args) is tuple for c in calls) and any(c.args == ("a", "1") for c in calls)
