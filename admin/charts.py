"""Bar charts drawn as inline SVG on the server: no JavaScript library, no CDN.

A chart is a few dozen rectangles; each carries a `<title>` so the browser shows the exact
amount on hover, and the figure repeats its numbers in a table next to it for reading.
"""

from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup

from admin.formatters import format_rand

# Room around the plot for the axis labels, in SVG user units.
LEFT, RIGHT, TOP, BOTTOM = 84, 12, 28, 36
GRID_LINES = 4


@dataclass(frozen=True)
class Series:
    name: str
    color: str  # a CSS colour
    values: list[Decimal]


def bar_chart(
    categories: list[str], series: list[Series], *, title: str, width: int = 720, height: int = 260
) -> Markup:
    """Grouped vertical bars: one group per category, one bar per series, with a legend."""
    peak = max((value for s in series for value in s.values), default=Decimal(0))
    scale_top = _round_up(peak)
    plot_width, plot_height = width - LEFT - RIGHT, height - TOP - BOTTOM
    group_width = plot_width / max(len(categories), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)

    def y_of(value: Decimal) -> float:
        """The SVG y of an amount; with nothing to show every bar sits on the baseline."""
        if not scale_top:
            return TOP + plot_height
        return TOP + plot_height - float(value / scale_top) * plot_height

    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
            'aria-label="{t}" class="w-100" style="max-width:{w}px;font-size:11px">'
        ).format(w=width, h=height, t=title)
    ]
    for step in range(GRID_LINES + 1 if scale_top else 1):
        value = scale_top * step / GRID_LINES
        y = y_of(value)
        parts.append(
            Markup(
                '<line x1="{x1}" x2="{x2}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dee2e6"/>'
                '<text x="{tx}" y="{ty:.1f}" text-anchor="end" fill="#6c757d">{label}</text>'
            ).format(
                x1=LEFT,
                x2=width - RIGHT,
                y=y,
                tx=LEFT - 6,
                ty=y + 4,
                label=format_rand(value.quantize(Decimal("1"))).removesuffix(".00"),
            )
        )
    for index, category in enumerate(categories):
        group_x = LEFT + index * group_width + group_width * 0.1
        for position, one in enumerate(series):
            value = one.values[index]
            top = y_of(max(value, Decimal(0)))  # a net negative month draws no bar
            parts.append(
                Markup(
                    '<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{bh:.1f}" '
                    'fill="{color}"><title>{tip}</title></rect>'
                ).format(
                    x=group_x + position * bar_width,
                    y=top,
                    bw=max(bar_width - 1, 1),
                    bh=TOP + plot_height - top,
                    color=one.color,
                    tip=f"{category}: {one.name} {format_rand(value)}",
                )
            )
        parts.append(
            Markup(
                '<text x="{x:.1f}" y="{y}" text-anchor="middle" fill="#495057">{label}</text>'
            ).format(x=group_x + group_width * 0.4, y=height - BOTTOM + 16, label=category)
        )
    legend_x = LEFT
    for one in series:
        parts.append(
            Markup(
                '<rect x="{x}" y="8" width="10" height="10" fill="{color}"/>'
                '<text x="{tx}" y="17" fill="#495057">{name}</text>'
            ).format(x=legend_x, color=one.color, tx=legend_x + 14, name=one.name)
        )
        legend_x += 14 + 8 * len(one.name) + 16
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _round_up(peak: Decimal) -> Decimal:
    """A tidy top for the axis, at least the peak, whose quarters are round amounts:
    1, 2, 4, 6, 8 or 10 times a power of ten."""
    if peak <= 0:
        return Decimal(0)
    magnitude = Decimal(10) ** (len(str(int(peak))) - 1)
    for factor in (1, 2, 4, 6, 8, 10):
        if magnitude * factor >= peak:
            return magnitude * factor
    return magnitude * 10
