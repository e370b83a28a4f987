// Compose pages: code editors (CodeMirror) on textareas, and the visual block editor (GrapesJS with its
// newsletter preset, which outputs email-safe tables and inlines CSS). Both come from npm (package.json).
(function () {
  "use strict";

  // Code editors: every textarea.code with a data-code mode.
  document.querySelectorAll("textarea.code[data-code]").forEach(function (area) {
    if (!area.dataset.code || !window.CodeMirror || area.hidden) return;
    var editor = CodeMirror.fromTextArea(area, {
      mode: area.dataset.code, lineNumbers: true, lineWrapping: true, readOnly: area.readOnly,
    });
    area.form.addEventListener("submit", function () { editor.save(); });
  });

  // Rich text: Quill, for people who write like in a word processor. Images come from the media library.
  var rich = document.getElementById("rich-editor");
  if (rich && window.Quill) {
    var textarea = document.getElementById("body");
    var picker = document.getElementById("media-picker");
    var quill = new Quill(rich, {
      theme: "snow",
      modules: { toolbar: { container: [[{ header: [1, 2, 3, false] }], ["bold", "italic", "underline", "link"],
        [{ list: "ordered" }, { list: "bullet" }], [{ align: [] }], ["image", "clean"]],
        handlers: { image: function () { picker.showModal(); } } } },
    });
    quill.clipboard.dangerouslyPasteHTML(textarea.value); // the saved body, as Quill understands it
    picker.querySelectorAll("button[data-src]").forEach(function (button) {
      button.addEventListener("click", function () {
        var at = (quill.getSelection(true) || { index: quill.getLength() }).index;
        quill.insertEmbed(at, "image", button.dataset.src, "user");
        quill.setSelection(at + 1, 0, "user"); // go on typing after the image
        picker.close();
      });
    });
    // root.innerHTML, not getSemanticHTML(): that turns every space into &nbsp;, which breaks {{ … }} tags.
    textarea.form.addEventListener("submit", function () { textarea.value = quill.root.innerHTML; });
    window.kairanRichEditor = quill;
  }

  // The layout editor shows its preview at once (the button posts the form into the preview frame).
  document.querySelectorAll("[data-autopreview]").forEach(function (button) { button.click(); });

  // A new editing mode takes effect by saving: the server converts the body and reopens it in that editor.
  var mode = document.getElementById("content_type");
  if (mode && mode.dataset.saved) {
    mode.addEventListener("change", function () {
      if (mode.value === mode.dataset.saved) return;
      if (mode.dataset.new) { // nothing saved yet: open the new campaign in the other editor, keeping what was typed
        var typed = { content_type: mode.value };
        ["name", "subject", "preheader"].forEach(function (id) { typed[id] = document.getElementById(id).value; });
        window.location.search = new URLSearchParams(typed).toString();
        return;
      }
      document.body.classList.add("switching-editor");
      mode.form.dataset.switching = "1";
      mode.form.requestSubmit();
    });
  }

  var mount = document.getElementById("visual-editor");
  if (!mount || !window.grapesjs) return;
  var form = document.getElementById("campaign-form");
  var body = document.getElementById("body");
  var source = document.getElementById("body_source");
  var labels = JSON.parse(mount.dataset.labels);
  var project = JSON.parse(source.value || "null");

  // Where a clicked block goes: into the selected column (a cell the editor made for content), else just after
  // the block the selection is in (at the level of the message or of its column), else at the end. A survey's
  // cells hold its question and answers, not other blocks; a survey is not put into a coloured cell either.
  function isColumn(component) {
    if (component.get("tagName") !== "td") return false;
    for (var up = component; up; up = up.parent()) if (up.getAttributes()["data-survey"]) return false;
    return true;
  }
  // A survey goes into the message itself or into a plain column, never into a coloured cell (a banner, a coupon):
  // a drop near a banner lands beside it, where the editor aims, not inside another block.
  function isColoured(cell) {
    var style = cell.getStyle();
    return Boolean(cell.getAttributes().bgcolor || style["background-color"] || style.background);
  }
  function takesSurvey(target) {
    return target.is("wrapper") || (isColumn(target) && !isColoured(target));
  }

  // A survey is one block: a click anywhere in it (question, buttons, labels, cells) selects the whole survey, and
  // its parts cannot be removed, moved or copied alone (the question removed alone left answers without it).
  var surveyPart = { selectable: false, hoverable: false, highlightable: false, removable: false, draggable: false,
    droppable: false, copyable: false, badgable: false, layerable: false, editable: false };
  function holdTogether(survey) {
    survey.components().forEach(function lock(part) { part.set(surveyPart); part.components().forEach(lock); });
  }
  function surveyType(editor) {
    editor.DomComponents.addType("kairan-survey", {
      extend: "table",
      isComponent: function (el) { return el.tagName === "TABLE" && el.hasAttribute("data-survey"); },
      model: {
        defaults: { name: labels.survey_category, droppable: false,
          draggable: function (survey, target) { return takesSurvey(target); } },
        init: function () { holdTogether(this); },
      },
    });
    // Projects saved before this type kept their surveys as plain tables: held together when they are loaded.
    editor.on("load project:loaded", function () {
      editor.getWrapper().find("table[data-survey]").forEach(function (survey) {
        if (survey.get("type") === "kairan-survey") return;
        survey.set({ name: labels.survey_category, droppable: false,
          draggable: function (dragged, target) { return takesSurvey(target); } });
        holdTogether(survey);
      });
    });
  }

  function appendToSelection(block, editor) {
    var wrapper = editor.getWrapper();
    var selected = editor.getSelected();
    var added;
    var surveyBlock = block.getId().indexOf("kairan-survey") === 0;
    if (selected && isColumn(selected) && (!surveyBlock || takesSurvey(selected))) {
      added = selected.append(block.get("content"))[0]; // the column stays chosen for the next block
    } else {
      var around = selected && selected !== wrapper ? selected : null;
      while (around && around.parent() && around.parent() !== wrapper && !isColumn(around.parent())) around = around.parent();
      var parent = around && around.parent() ? around.parent() : wrapper;
      added = parent.append(block.get("content"), around ? { at: around.index() + 1 } : {})[0];
      editor.select(added); // the next block follows this one
    }
    if (block.get("activate")) added.trigger("active"); // an image opens the media library, as on drop
    var shown = added.getEl && added.getEl();
    if (shown) shown.scrollIntoView({ block: "nearest" }); // a block added below the fold is seen to land
  }

  // The preset's blocks, named for Japanese editors too, and grouped: columns apart from the content blocks (a
  // block with no group is listed after the last group, under its heading).
  var names = { "sect100": labels.columns1, "sect50": labels.columns2, "sect30": labels.columns3, "button": labels.button,
    "divider": labels.divider, "text": labels.text, "image": labels.image, "quote": labels.quote, "link": labels.link,
    "sect37": labels.image_text, "text-sect": labels.text_section, "link-block": labels.link_block,
    "grid-items": labels.grid_items, "list-items": labels.list_items };
  var columnBlocks = ["sect100", "sect50", "sect30"];
  function presetBlock(id) {
    var props = { category: columnBlocks.indexOf(id) >= 0 ? labels.columns_category : labels.category };
    if (names[id]) props.label = names[id];
    return props;
  }

  var editor = grapesjs.init({
    container: mount,
    height: "78vh",
    cssIcons: mount.dataset.icons, // Font Awesome 4 from npm, not from a CDN this server may not reach
    fromElement: false,
    storageManager: false, // Kairan saves the project with the campaign form
    telemetry: false, // a self-hosted tool sends nothing to third parties
    i18n: { locale: mount.dataset.locale, detectLocale: false,
      messagesAdd: (function () { var m = {}; m[mount.dataset.locale] = JSON.parse(mount.dataset.messages); return m; })() },
    // The canvas reads like the mail: the layouts' fonts and size, not the browser's serif default.
    canvasCss: "body { font-family: -apple-system, 'Helvetica Neue', Arial, 'Hiragino Sans', Meiryo, sans-serif; " +
      "font-size: 16px; line-height: 1.7; color: #222222; } img { max-width: 100%; height: auto; }",
    plugins: ["grapesjs-preset-newsletter", surveyType],
    // Styles stay a click away: opening them on every selection would hide the blocks being picked.
    pluginsOpts: { "grapesjs-preset-newsletter": { inlineCss: true, showStylesOnChange: false, block: presetBlock } },
    projectData: project || undefined,
    // A new campaign opens on a greeting to edit, not on an empty canvas that gives no hint where to start.
    components: project ? undefined : (body.value || '<div style="padding:8px 0;">' + labels.body_text + "</div>"),
    // Besides dragging, a click on a block puts it where the editor is working (appendToSelection): easier on
    // a touchpad, and possible from the keyboard.
    blockManager: { appendOnClick: appendToSelection },
    assetManager: {
      assets: JSON.parse(mount.dataset.media).map(function (m) { return { src: m.url, name: m.filename }; }),
      upload: mount.dataset.upload,
      uploadName: "files",
      params: { csrf_token: mount.dataset.csrf },
      headers: { Accept: "application/json" },
    },
  });

  // Blocks the preset lacks, named for Japanese editors too, with Font Awesome icons like the preset's tiles.
  var blocks = editor.Blocks;
  var cell = "padding:0 0 16px 0;";
  blocks.add("kairan-heading", { attributes: { class: "fa fa-header" }, label: labels.heading, category: labels.category,
    content: '<h1 style="margin:0 0 16px 0;font-size:24px;line-height:1.4;">' + labels.heading_text + "</h1>" });
  blocks.add("kairan-spacer", { attributes: { class: "fa fa-arrows-v" }, label: labels.spacer, category: labels.category,
    content: '<table role="presentation" width="100%"><tr><td height="32" style="height:32px;line-height:32px;font-size:1px;">&nbsp;</td></tr></table>' });
  blocks.add("kairan-social", { attributes: { class: "fa fa-share-alt" }, label: labels.social, category: labels.category,
    content: '<table role="presentation" align="center"><tr>' +
      ["X", "Instagram", "LINE", "Facebook"].map(function (n) {
        return '<td style="padding:0 8px;"><a href="https://example.com/" style="font-size:14px;font-weight:bold;">' + n + "</a></td>";
      }).join("") + "</tr></table>" });
  blocks.add("kairan-footer", { attributes: { class: "fa fa-info-circle" }, label: labels.footer, category: labels.category,
    content: '<table role="presentation" width="100%"><tr><td style="' + cell + 'font-size:12px;color:#5f6b7a;text-align:center;">' +
      labels.footer_text + "</td></tr></table>" });
  // Survey blocks: each answer a link to the confirm page (/survey/<question>/<answer>), tracked when sent; the
  // question is named by its kind, so a message asks each kind once. Tables and inline styles only, as mail needs.
  function survey(question, wording, answers, low, high) {
    var width = Math.floor(100 / answers.length);
    var cells = answers.map(function (a) {
      return '<td width="' + width + '%" style="padding:2px;text-align:center;"><a href="' + mount.dataset.survey +
        question + "/" + a[0] + '" style="display:block;padding:10px 0;border:1px solid #1f3a5f;border-radius:4px;' +
        'color:#1f3a5f;font-weight:bold;text-decoration:none;font-size:15px;">' + a[1] + "</a></td>";
    }).join("");
    var ends = low ? '<tr><td style="padding:4px 2px 0 2px;font-size:12px;color:#5f6b7a;">' + low + "</td>" +
      '<td style="padding:4px 2px 0 2px;font-size:12px;color:#5f6b7a;text-align:right;">' + high + "</td></tr>" : "";
    return '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" data-survey="' + question + '">' +
      '<tr><td style="padding:8px 0;font-weight:bold;">' + wording + "</td></tr>" +
      '<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>' + cells + "</tr></table></td></tr>" +
      (ends ? '<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0">' + ends + "</table></td></tr>" : "") +
      "</table>";
  }
  function range(from, to) { var out = []; for (var n = from; n <= to; n++) out.push([String(n), String(n)]); return out; }
  blocks.add("kairan-survey-nps", { attributes: { class: "fa fa-tachometer" }, label: labels.nps, category: labels.survey_category,
    content: survey("nps", labels.nps_question, range(0, 10), labels.not_likely, labels.very_likely) });
  blocks.add("kairan-survey-satisfaction", { attributes: { class: "fa fa-smile-o" }, label: labels.satisfaction,
    category: labels.survey_category,
    content: survey("satisfaction", labels.satisfaction_question, range(1, 5), labels.dissatisfied, labels.very_satisfied) });
  blocks.add("kairan-survey-yes-no", { attributes: { class: "fa fa-check-square-o" }, label: labels.yes_no,
    category: labels.survey_category,
    content: survey("yes_no", labels.yes_no_question, [["yes", labels.yes], ["no", labels.no]]) });
  // The preset's button is an <a> with no address and no look: an email-safe button that links somewhere.
  blocks.get("button").set("content", '<a href="https://example.com/" style="display:inline-block;padding:12px 28px;' +
    'background-color:#1f3a5f;color:#ffffff;border-radius:4px;font-weight:bold;text-decoration:none;">' +
    labels.button_text + "</a>");
  // The preset's image is inline: a block dropped after it would sit beside it. In mail an image stands on its own.
  blocks.get("image").set("content", { type: "image", style: { display: "block", "max-width": "100%" } });
  blocks.get("text").set("content", '<div style="padding:8px 0;">' + labels.text_default + "</div>");

  // Toolbar buttons named in the reader's language (GrapesJS ships no Japanese).
  var titles = { "set-device-desktop": labels.desktop, "set-device-tablet": labels.tablet,
    "set-device-mobile": labels.phone, "core:undo": labels.undo, "core:redo": labels.redo,
    "core:preview": labels.preview, "export-template": labels.code, "core:fullscreen": labels.fullscreen,
    "sw-visibility": labels.outlines, "open-sm": labels.styles, "open-tm": labels.settings,
    "open-layers": labels.layers, "open-blocks": labels.blocks_panel };
  editor.Panels.getPanels().forEach(function (panel) {
    panel.get("buttons").forEach(function (button) {
      var title = titles[button.get("command")];
      if (title) button.set("attributes", Object.assign({}, button.get("attributes"), { title: title }));
    });
  });

  // The editor sits inside the campaign form, so Enter in one of its fields (a link, an alt text) would submit
  // the whole form. Enter there applies the field, as leaving it does, and the form stays open.
  mount.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || field.tagName !== "INPUT" || field.form !== form) return; // GrapesJS's own forms keep Enter
    event.preventDefault();
    field.dispatchEvent(new Event("change", { bubbles: true }));
  });

  form.addEventListener("submit", function () {
    if (form.dataset.switching && !project && !editor.getComponents().length) return; // nothing built: keep body
    body.value = editor.runCommand("gjs-get-inlined-html");
    source.value = JSON.stringify(editor.getProjectData());
  });
  window.kairanEditor = editor; // for browser tests and the curious
})();
