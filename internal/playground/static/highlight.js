// A small syntax highlighter for the editor: comments, strings, numbers
// and keywords of the catalog's languages, coloured by one regular
// expression per language. It never changes the text, only wraps it.
"use strict";

const highlighter = (() => {
  const words = (s) => new Set(s.split(" "));
  const cLike = "auto break case char const continue default do double else enum extern float for goto if inline int long register return short signed sizeof static struct switch typedef union unsigned void volatile while";
  const families = {
    hash: { line: "#", block: null, quotes: "\"'" },
    slash: { line: "//", block: ["/*", "*/"], quotes: "\"'" },
    slashTick: { line: "//", block: ["/*", "*/"], quotes: "\"'`" },
  };
  const languages = {
    python: { f: families.hash, k: words("and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return True try while with yield print self") },
    bash: { f: families.hash, k: words("if then else elif fi for while until do done case esac function in return local export echo read exit set") },
    perl: { f: families.hash, k: words("my our sub if elsif else unless while until for foreach return use strict warnings print say last next package") },
    c: { f: families.slash, k: words(cLike + " include define bool true false NULL") },
    cpp: { f: families.slash, k: words(cLike + " include define bool true false nullptr class namespace using std public private protected template typename new delete virtual override this throw try catch") },
    java: { f: families.slash, k: words("abstract boolean break byte case catch char class continue default do double else enum extends final finally float for if implements import instanceof int interface long new null package private protected public return short static super switch this throw throws try void while true false var String") },
    go: { f: families.slashTick, k: words("break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var nil true false") },
    rust: { f: families.slash, k: words("as break const continue crate else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while println") },
    javascript: { f: families.slashTick, k: words("async await break case catch class const continue default delete do else export extends false finally for function if import in instanceof let new null return super switch this throw true try typeof undefined var void while yield require module console") },
    typescript: { f: families.slashTick, k: words("async await break case catch class const continue default delete do else enum export extends false finally for function if implements import in instanceof interface let new null number private public return string super switch this throw true try type typeof undefined var void while boolean console") },
  };
  languages.project = languages.bash; // a project's scripts are bash
  const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const quote = (s) => s.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
  const patterns = new Map();

  function pattern(lang) {
    if (patterns.has(lang)) return patterns.get(lang);
    const { f } = languages[lang];
    const parts = [];
    if (f.block) parts.push(quote(f.block[0]) + "[\\s\\S]*?(?:" + quote(f.block[1]) + "|$)");
    parts.push(quote(f.line) + "[^\\n]*");
    const comment = "(" + parts.join("|") + ")";
    const strings = [...f.quotes].map((q) => q === "`" ? "`(?:\\\\[\\s\\S]|[^`\\\\])*`?" : q + "(?:\\\\.|[^" + q + "\\\\\\n])*" + q + "?");
    const re = new RegExp(comment + "|(" + strings.join("|") + ")|\\b(\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b|([A-Za-z_][A-Za-z0-9_]*)", "g");
    patterns.set(lang, re);
    return re;
  }

  // toHTML returns code as HTML with tokens wrapped in spans; code of a
  // language it does not know is only escaped.
  function toHTML(code, lang) {
    if (!languages[lang]) return escape(code);
    const re = pattern(lang);
    const keywords = languages[lang].k;
    let out = "", last = 0;
    re.lastIndex = 0;
    for (let m; (m = re.exec(code)); ) {
      out += escape(code.slice(last, m.index));
      const [text, comment, string, number, word] = m;
      let cls = "";
      if (comment) cls = "tok-c";
      else if (string) cls = "tok-s";
      else if (number) cls = "tok-n";
      else if (word && keywords.has(word)) cls = "tok-k";
      out += cls ? '<span class="' + cls + '">' + escape(text) + "</span>" : escape(text);
      last = m.index + text.length;
      if (text.length === 0) re.lastIndex++;
    }
    return out + escape(code.slice(last));
  }

  return { toHTML };
})();
