"""The size budget: the engine reads in an evening, each op is one block."""
import ast
import io
import pathlib
import tokenize

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'micrograd'
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
        tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER}


def docstring_lines(tree) -> set:
    """Line numbers taken by docstrings (they count as comments)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                             ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and
                    isinstance(first.value, ast.Constant) and
                    isinstance(first.value.value, str)):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(source: str) -> set:
    """Line numbers holding code tokens (not comments, blanks, docstrings)."""
    docs = docstring_lines(ast.parse(source))
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in SKIP:
            lines.update(n for n in range(tok.start[0], tok.end[0] + 1)
                         if n not in docs)
    return lines


def test_counter_on_a_known_source():
    source = ('"""Module doc."""\n'
              '# a comment\n'
              '\n'
              'def f(x):\n'
              '    """Doc\n'
              '    on two lines."""\n'
              '    y = (x +\n'
              '         1)  # trailing comment\n'
              '    return y\n')
    assert sorted(code_lines(source)) == [4, 7, 8, 9]


def test_counter_counts_strings_that_are_not_docstrings():
    source = ('x = """one\n'
              'two"""\n'
              'def f():\n'
              '    y = 1\n'
              '    """a string after code is code"""\n'
              '    return y\n')
    assert sorted(code_lines(source)) == [1, 2, 3, 4, 5, 6]


def test_the_budget_check_can_fail():
    source = ''.join(f'x{i} = {i}  # note\n\n' for i in range(500))
    assert len(code_lines(source)) == 500      # not under 500


def test_engine_is_under_500_code_lines():
    n = len(code_lines((PACKAGE / 'engine.py').read_text()))
    print(f'\nengine.py: {n} code lines')
    assert n < 500


def op_blocks(source: str) -> dict:
    """Code lines of each op's NAME_forward + NAME_backward pair."""
    lines = code_lines(source)
    blocks = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name.endswith(
                ('_forward', '_backward')):
            name = node.name.rsplit('_', 1)[0]
            span = range(node.lineno, node.end_lineno + 1)
            blocks[name] = blocks.get(name, 0) + sum(n in lines for n in span)
    return blocks


def test_op_block_counter_sees_an_oversized_op():
    body = ''.join(f'    x = x + {i}\n' for i in range(20))
    source = f'def big_forward(xp, x):\n{body}    return x\n\n' \
             'def big_backward(xp, g, out, x):\n    return g\n'
    assert op_blocks(source) == {'big': 24}


def test_each_op_block_is_at_most_20_lines():
    blocks = {}
    for path in sorted((PACKAGE / 'ops').glob('*.py')):
        blocks.update(op_blocks(path.read_text()))
    assert len(blocks) >= 40
    too_long = {name: n for name, n in blocks.items() if n > 20}
    assert not too_long, f'op blocks over 20 code lines: {too_long}'


def test_the_interpreted_backward_reads_as_the_textbook_loop():
    """Reverse order, each node's rule, accumulate with `+`: no in-place
    accumulation or buffer bookkeeping in the engine's walk (the compiled
    code does that)."""
    import inspect
    from micrograd import engine
    source = inspect.getsource(engine._backward_walk)
    assert 'reversed(topo)' in source and 'op.backward(' in source
    assert 'parent.grad + pg' in source
    assert '+=' not in source and 'owned' not in source
