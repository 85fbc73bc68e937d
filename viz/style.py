"""How pictures look: one style per role (primal, adjoint, tangent), node shapes per kind, the
marks used by playback and checks, and the legend drawn inside every figure.

The three roles differ in fill, border and edge colour, so they stay apart also when printed in
grey (fill lightness differs) and for readers with red-green colour blindness (orange and green
also differ in lightness, and adjoint edges are bold).
"""

from __future__ import annotations

from dataclasses import dataclass

from .labels import html

FONT = "DejaVu Sans"


@dataclass(frozen=True)
class RoleStyle:
    label: str  # legend text
    fill: str
    border: str
    text: str
    edge: str
    cluster_fill: str
    cluster_border: str
    cluster_prefix: str  # "∇ layer1" mirrors scope "layer1" on the adjoint side
    edge_width: str


ROLES = {
    "primal": RoleStyle("primal (forward) value", "#ffffff", "#2c3e50", "#17202a", "#2c3e50",
                        "#f4f6f7", "#aab7b8", "", "1.0"),
    "adjoint": RoleStyle("adjoint (cotangent) v̄ = ∂f/∂v", "#fdebd0", "#ca6f1e", "#6e2c00", "#d35400",
                         "#fef9f3", "#e59866", "∇ ", "1.8"),
    "tangent": RoleStyle("tangent (forward mode) v̇", "#d4efdf", "#1e8449", "#145a32", "#1e8449",
                         "#f1faf5", "#82e0aa", "δ ", "1.4"),
}
KERNEL = RoleStyle("fused kernel (numba)", "#ffffff", "#2874a6", "#1b4f72", "#2874a6",
                   "#ebf5fb", "#5dade2", "", "1.0")
BAD_FILL = "#f1948a"  # a failed finite-difference check, NaN or inf
BAD_BORDER = "#b03a2e"
NEW_BORDER = "#8e44ad"  # added by this stage of the pipeline
CURRENT_BORDER = "#1f618d"  # the node being processed in a playback frame
FADED_FILL = "#fbfcfc"
FADED_TEXT = "#b3b6b7"
META_TEXT = "#5d6d7e"
READ_EDGE = "#a6acaf"  # a primal value read by a derivative rule
PAIR_EDGE = "#7f8c8d"  # links a primal node with its adjoint or tangent
LOOP_EDGE = "#7d3c98"  # a loop's carry, fed back to the next step

SHAPES = {
    "op": ("box", "rounded,filled"),
    "input": ("cds", "filled"),
    "constant": ("note", "filled"),
    "sum": ("ellipse", "filled"),
    "scope": ("box3d", "filled"),
    "ghost": ("box", "rounded,dashed,filled"),
}


def role_style(role: str) -> RoleStyle:
    if role == "kernel":
        return KERNEL
    return ROLES.get(role, ROLES["primal"])


def legend_html(roles: set[str], *, bad: bool, new: bool, playback: bool, sums: bool, reads: bool,
                pairs: bool, kernels: bool = False, loops: bool = False) -> str:
    """The legend, as a graphviz HTML table (one node inside the figure)."""
    rows = ['<TR><TD COLSPAN="2" ALIGN="LEFT"><B>legend</B></TD></TR>']

    def swatch(fill: str, border: str, text: str, label: str) -> str:
        return (f'<TR><TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1" WIDTH="26"> </TD>'
                f'<TD ALIGN="LEFT"><FONT COLOR="{text}">{html(label)}</FONT></TD></TR>')

    def line(color: str, label: str) -> str:
        return (f'<TR><TD><FONT COLOR="{color}">{html(label[:3])}</FONT></TD>'
                f'<TD ALIGN="LEFT">{html(label[3:].strip())}</TD></TR>')

    for role in ("primal", "adjoint", "tangent"):
        if role in roles:
            s = ROLES[role]
            rows.append(swatch(s.fill, s.border, s.text, s.label))
    rows.append('<TR><TD COLSPAN="2" ALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="#5d6d7e">'
                'tag = input · folded corner = constant · double border = output'
                + (' · oval = Σ at fan-in' if sums else '') + '</FONT></TD></TR>')
    rows.append(line(ROLES["primal"].edge, "──▶ data flow (edge: shape)"))
    if "adjoint" in roles:
        rows.append(line(ROLES["adjoint"].edge, "◀── adjoint flow (chain rule)"))
    if "tangent" in roles:
        rows.append(line(ROLES["tangent"].edge, "──▶ tangent flow"))
    if reads:
        rows.append(line(READ_EDGE, "┄┄▶ primal value read by a rule"))
    if pairs:
        rows.append(line(PAIR_EDGE, "┄┄┄ links v with v̄ / v̇"))
    if loops:
        rows.append(line(LOOP_EDGE, "┄┄▶ carry to the next step; a loop's body is drawn once"))
    if kernels:
        rows.append(swatch(KERNEL.cluster_fill, KERNEL.cluster_border, KERNEL.text,
                           "fused kernel: one loop nest of the numba backend"))
    if bad:
        rows.append(swatch(BAD_FILL, BAD_BORDER, "#17202a", "check failed, NaN or ∞"))
    if new:
        rows.append(swatch("#ffffff", NEW_BORDER, NEW_BORDER, "added by this stage"))
    if playback:
        rows.append(swatch("#ffffff", CURRENT_BORDER, CURRENT_BORDER, "current step"))
        rows.append(swatch(FADED_FILL, FADED_TEXT, FADED_TEXT, "not computed yet"))
    body = "".join(rows)
    table = '<TABLE BORDER="1" COLOR="#d5d8dc" CELLBORDER="0" CELLSPACING="2" CELLPADDING="3">'
    return f"<{table}{body}</TABLE>>"
