// A virtual list for the message log: only the rows within a screen or so of the viewport are in the
// document, absolutely placed from the running sum of their heights; a row's height is estimated until it
// has been drawn once and measured. The list keeps the reader's place when rows above it change height,
// and sticks to the bottom while the reader is there (new messages scroll in).

const OVERSCAN = 800;
const STICK_PX = 48;

export class VirtualList {
  /**
   * @param {HTMLElement} scroller the element that scrolls
   * @param {HTMLElement} inner its only child, sized to the whole list
   * @param {(item: any) => HTMLElement} render draws one row
   * @param {(item: any, width: number) => number} estimate a row's height before it is measured
   */
  constructor(scroller, inner, render, estimate) {
    this.scroller = scroller;
    this.inner = inner;
    this.render = render;
    this.estimate = estimate;
    this.items = [];
    /** @type {Map<string, number>} measured heights by key */
    this.heights = new Map();
    /** @type {Map<string, number>} estimated heights by key (for this width) */
    this.estimates = new Map();
    /** The first row whose offset is out of date (items.length: none). */
    this.dirtyFrom = 0;
    /** @type {Map<string, {el: HTMLElement, sig: string}>} rows in the document */
    this.rows = new Map();
    this.offsets = new Float64Array(1);
    this.width = 0;
    this.stick = true;
    this.frame = 0;
    /** A row to keep in place while rows are added above it (older lines paged in). */
    this.keep = null;
    /** Called when the reader nears the top (to page in older rows). */
    this.onNearTop = null;
    scroller.addEventListener("scroll", () => {
      this.stick = this.atBottom();
      if (this.scroller.scrollTop < 400 && this.onNearTop) this.onNearTop();
      this.schedule();
    }, { passive: true });
    new ResizeObserver(() => {
      const width = this.scroller.clientWidth;
      if (width !== this.width) {
        this.width = width;
        this.heights.clear();
        this.estimates.clear();
        this.dirtyFrom = 0;
      }
      this.schedule();
    }).observe(scroller);
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICK_PX;
  }

  /**
   * Replaces the rows (same keys keep their measured heights); `reset` starts at the bottom. The row at
   * the top of the view stays where it is, so rows added above it (older ones) do not move the text.
   */
  setItems(items, reset = false) {
    if (reset) {
      this.stick = true;
      for (const { el } of this.rows.values()) el.remove();
      this.rows.clear();
    } else if (!this.stick && this.items.length > 0) {
      const top = this.scroller.scrollTop, i = this.#find(top);
      if (this.items[i]) this.keep = { key: this.items[i].key, shift: top - this.offsets[i] };
    }
    this.items = items;
    this.dirtyFrom = 0;
    this.draw();
  }

  /** Scrolls so the row with this key is at the top of the view (false if there is none). */
  scrollToKey(key) {
    const i = this.items.findIndex((item) => item.key === key);
    if (i < 0) return false;
    this.#layout();
    this.stick = false;
    this.scroller.scrollTop = Math.max(0, this.offsets[i] - 8);
    this.draw();
    return true;
  }

  /** The offset of the row with this key from the top of the view (null if there is none). */
  offsetOf(key) {
    const i = this.items.findIndex((item) => item.key === key);
    if (i < 0) return null;
    this.#layout();
    return this.offsets[i] - this.scroller.scrollTop;
  }

  /** Scrolls to the newest row. */
  toBottom() {
    this.stick = true;
    this.draw();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  #height(item, width) {
    let h = this.heights.get(item.key) ?? this.estimates.get(item.key);
    if (h === undefined) this.estimates.set(item.key, h = this.estimate(item, width));
    return h;
  }

  /** Brings the offsets up to date from the first row that changed; returns the total height. */
  #layout() {
    const n = this.items.length;
    if (this.offsets.length < n + 1) {
      const grown = new Float64Array(Math.max(n + 1, this.offsets.length * 2));
      grown.set(this.offsets.subarray(0, Math.min(this.dirtyFrom, n) + 1));
      this.offsets = grown;
    }
    if (this.dirtyFrom < n + 1) {
      const width = this.width || this.scroller.clientWidth;
      let y = this.dirtyFrom > 0 ? this.offsets[this.dirtyFrom] : 0;
      for (let i = this.dirtyFrom; i < n; i++) {
        this.offsets[i] = y;
        y += this.#height(this.items[i], width);
      }
      this.offsets[n] = y;
      this.dirtyFrom = n + 1;
      this.inner.style.height = `${y}px`;
    }
    return this.offsets[n];
  }

  /** The first row whose bottom is below `y`. */
  #find(y) {
    let lo = 0, hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.offsets[mid + 1] <= y) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  draw() {
    const s = this.scroller;
    for (let pass = 0; pass < 3; pass++) {
      const total = this.#layout();
      if (this.keep) {
        const i = this.items.findIndex((item) => item.key === this.keep.key);
        if (i >= 0) s.scrollTop = this.offsets[i] + this.keep.shift;
        this.keep = null;
      }
      if (this.stick) s.scrollTop = total;
      const top = s.scrollTop, view = s.clientHeight;
      const anchor = this.#find(top), anchorShift = top - this.offsets[anchor];
      const first = this.#find(Math.max(0, top - OVERSCAN));
      const keep = new Set();
      const drawn = [];
      for (let i = first; i < this.items.length && this.offsets[i] < top + view + OVERSCAN; i++) {
        const item = this.items[i];
        keep.add(item.key);
        let row = this.rows.get(item.key);
        if (!row || row.sig !== item.sig) {
          const el = this.render(item);
          el.classList.add("vrow");
          if (row) row.el.replaceWith(el);
          else this.inner.append(el);
          row = { el, sig: item.sig };
          this.rows.set(item.key, row);
        }
        row.el.style.transform = `translateY(${this.offsets[i]}px)`;
        drawn.push([i, item.key, row.el]);
      }
      for (const [key, row] of this.rows) {
        if (!keep.has(key)) {
          row.el.remove();
          this.rows.delete(key);
        }
      }
      let changed = false;
      for (const [i, key, el] of drawn) {
        const h = el.offsetHeight;
        if (this.heights.get(key) !== h) {
          const before = this.#height(this.items[i], this.width);
          this.heights.set(key, h);
          if (before !== h) {
            this.dirtyFrom = Math.min(this.dirtyFrom, i);
            changed = true;
          }
        }
      }
      if (!changed) return;
      this.#layout();
      if (this.stick) s.scrollTop = this.offsets[this.items.length];
      else if (anchor < this.items.length) s.scrollTop = this.offsets[anchor] + anchorShift;
    }
    const index = new Map(this.items.map((item, i) => [item.key, i]));
    for (const [key, row] of this.rows) {
      const i = index.get(key);
      if (i !== undefined) row.el.style.transform = `translateY(${this.offsets[i]}px)`;
    }
  }

  /** How many rows are in the document (for measurements). */
  get rendered() {
    return this.rows.size;
  }
}
