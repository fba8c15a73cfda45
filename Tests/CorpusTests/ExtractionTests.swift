import Testing
@testable import Corpus

@Suite struct ExtractionTests {
    @Test func gcideDropsWordNetSensesAndMarkup() {
        let entry = """
        Abandon \\A*ban"don\\ ([.a]*b[a^]n"d[u^]n), v. t. [OF. abandoner.]
           1. To cast or drive out; to banish. See {Ban}.
              [1913 Webster]

           2. leave behind empty; move out of
              [WordNet 1.5]

           Syn: desert, vacate
                [WordNet 1.5 +PJC]

           3. To give up absolutely.
              [1913 Webster]
        """
        let text = GCIDEText.cleanEntry(entry).joined(separator: "\n")
        #expect(!text.contains("WordNet"))
        #expect(!text.contains("leave behind"))
        #expect(!text.contains("vacate"))
        #expect(text.contains("To cast or drive out; to banish. See Ban."))
        #expect(text.contains("To give up absolutely."))
        #expect(!text.contains("\\\\") && !text.contains("[a^]") && !text.contains("1913 Webster"))
    }

    @Test func htmlSkipsCodeAndNavigation() {
        let html = """
        <html><head><title>T</title><script>var x = 1;</script></head><body>
        <div class="sphinxsidebar" role="navigation"><p>Table of contents</p></div>
        <h1>Intro<a class="headerlink" href="#">¶</a></h1>
        <p>Hello &amp; welcome, <b>reader</b>.</p><pre>code here</pre><p>Second&#32;one&nbsp;here.</p>
        </body></html>
        """
        #expect(HTMLText.paragraphs(Array(html.utf8)) == ["Intro", "Hello & welcome, reader.", "Second one here."])
    }

    @Test func commentaryEntriesAreDeduplicated() {
        let dump = """
        Genesis 1:1: * Verses 1-2 * In the beginning God made all things good.
        Genesis 1:2: * Verses 1-2 * In the beginning God made all things good.
        Genesis 2:1: Another note about the seventh day here. * Verses 2-3 * And a second section.
        (MHCC)
        """
        let docs = SwordCommentaryText.parse(dump, module: "MHCC")
        #expect(docs.map(\.id) == ["Genesis 1", "Genesis 2"])
        #expect(docs[0].paragraphs == ["Verses 1-2 In the beginning God made all things good."])
        #expect(docs[1].paragraphs.count == 2)
    }

    @Test func podAndRoffAndMarkdown() {
        let pod = "=head1 NAME\n\nperlfoo - B<bold> and C<< $x->y >> with L<text|perlfunc/open>X<index>.\n\n    verbatim code\n\n=cut\n"
        #expect(PODText.paragraphs(pod) == ["NAME", "perlfoo - bold and $x->y with text."])
        let roff = ".\\\" comment\n.TH LS 1\n.SH NAME\nls \\- list files\n.PP\n.B ls\nlists \\fIdirectory\\fP contents.\n.nf\ncode\n.fi\n"
        #expect(RoffText.paragraphs(roff) == ["NAME", "ls - list files", "ls lists directory contents."])
        let md = "## Title\n\nSee [the FAQ](http://x) and _emphasis_ with snake_case.\n\n![img](a.png)\n"
        #expect(MarkdownText.paragraphs(md) == ["Title", "See the FAQ and emphasis with snake_case."])
    }
}
