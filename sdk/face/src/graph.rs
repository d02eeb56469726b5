//! From an ONNX graph to a plan of kernel calls. Loading folds what is
//! constant (block-quantised weights are dequantised here, once), fuses a
//! ReLU into the convolution before it, and numbers every value so a run
//! looks nothing up by name and frees each intermediate after its last use.

use std::collections::HashMap;

use crate::ops::{self, Conv, Tensor};
use crate::proto::{self, NodeProto, TensorData};
use crate::Error;

/// A value known at load time.
#[derive(Clone, Debug)]
enum Constant {
    Float(Tensor),
    Int(Vec<i64>),
}

#[derive(Clone, Debug)]
enum Op {
    Conv(Conv),
    Relu,
    Sigmoid,
    MaxPool {
        kernel: (usize, usize),
        stride: (usize, usize),
    },
    Upsample {
        factor: (usize, usize),
    },
    Add,
    Transpose {
        perm: Vec<usize>,
    },
    Reshape {
        shape: Vec<i64>,
    },
    /// `x * scale[c] + shift[c]` per channel (axis 1): BatchNormalization
    /// at inference, folded into the convolution before it when it can be.
    ChannelAffine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    /// `x * mul + add` with scalars: Sub, Mul or Add by a constant.
    ScalarAffine {
        mul: f32,
        add: f32,
    },
    /// Per-channel leaky slope for negative values.
    PRelu {
        slope: Vec<f32>,
    },
    /// Everything from `axis` on in one dimension.
    Flatten {
        axis: usize,
    },
    /// `y = x · weightᵀ + bias` for a batch-1 row vector (`weight` is
    /// `[out][in]`, alpha and beta folded in).
    Dense {
        weight: Vec<f32>,
        bias: Vec<f32>,
        outputs: usize,
    },
    /// Passes its input on (Dropout at inference).
    Identity,
}

#[derive(Clone, Debug)]
struct Step {
    op: Op,
    inputs: Vec<usize>,
    output: usize,
    /// Values whose last reader is this step: dropped once it has run.
    frees: Vec<usize>,
}

/// A loaded model, ready to run on one input tensor at a time.
#[derive(Clone, Debug)]
pub struct Graph {
    steps: Vec<Step>,
    input: usize,
    outputs: Vec<(String, usize)>,
    values: usize,
}

/// Names to value numbers, handed out in order of first appearance.
#[derive(Default)]
struct Numbering(HashMap<String, usize>);

impl Numbering {
    fn of(&mut self, name: &str) -> usize {
        let next = self.0.len();
        *self.0.entry(name.to_owned()).or_insert(next)
    }
}

impl Graph {
    pub fn load(model: &[u8]) -> Result<Graph, Error> {
        let graph = proto::parse_model(model)?;
        let mut constants: HashMap<String, Constant> = HashMap::new();
        for init in graph.initializers {
            let value = match init.data {
                TensorData::Float(data) => Constant::Float(Tensor::new(init.dims, data)?),
                TensorData::Int(data) => Constant::Int(data),
            };
            constants.insert(init.name, value);
        }
        let input_name = graph
            .inputs
            .iter()
            .find(|name| !constants.contains_key(*name))
            .ok_or(Error::Model("the graph has no input"))?
            .clone();

        let mut numbering = Numbering::default();
        let input = numbering.of(&input_name);
        let mut steps = Vec::new();
        for node in &graph.nodes {
            if let Some(folded) = fold(node, &constants)? {
                let name = node.outputs.first().ok_or(Error::Model("a node without an output"))?;
                constants.insert(name.clone(), folded);
                continue;
            }
            let op = lower(node, &constants)?;
            let data_input = node.inputs.first().ok_or(Error::Model("a node without inputs"))?;
            if constants.contains_key(data_input) {
                return Err(Error::Unsupported(format!("{} whose first input is a constant", node.op_type)));
            }
            let mut inputs = vec![numbering.of(data_input)];
            if matches!(op, Op::Add) {
                // Two run-time values; an Add of a constant became a ScalarAffine.
                inputs.push(numbering.of(node.inputs.get(1).ok_or(Error::Model("Add needs two inputs"))?));
            }
            let output = numbering.of(node.outputs.first().ok_or(Error::Model("a node without an output"))?);
            steps.push(Step { op, inputs, output, frees: Vec::new() });
        }
        let outputs: Vec<(String, usize)> =
            graph.outputs.iter().map(|name| (name.clone(), numbering.of(name))).collect();
        if outputs.iter().any(|(_, v)| *v != input && !steps.iter().any(|s| s.output == *v)) {
            return Err(Error::Model("a graph output is computed by no node"));
        }
        fuse_into_conv(&mut steps, &outputs);
        plan_frees(&mut steps, &outputs);
        Ok(Graph { steps, input, outputs, values: numbering.0.len() })
    }

    /// Runs the graph; returns its outputs by name, in the graph's order.
    pub fn run(&self, input: Tensor) -> Result<Vec<(String, Tensor)>, Error> {
        let mut values: Vec<Option<Tensor>> = vec![None; self.values];
        values[self.input] = Some(input);
        for step in &self.steps {
            // The first input by value: moved out when this step is its last
            // reader (the common case), copied otherwise.
            let owned = |values: &mut Vec<Option<Tensor>>| -> Result<Tensor, Error> {
                let v = step.inputs[0];
                let value = if step.frees.contains(&v) { values[v].take() } else { values[v].clone() };
                value.ok_or(Error::Model("a value used before it is computed"))
            };
            let out = match &step.op {
                Op::Conv(conv) => conv.run(values_ref(&values, step.inputs[0])?)?,
                Op::MaxPool { kernel, stride } => {
                    ops::max_pool(values_ref(&values, step.inputs[0])?, *kernel, *stride)?
                }
                Op::Upsample { factor } => ops::upsample_nearest(values_ref(&values, step.inputs[0])?, *factor)?,
                Op::Transpose { perm } => ops::transpose(values_ref(&values, step.inputs[0])?, perm)?,
                Op::Relu => ops::relu(owned(&mut values)?),
                Op::Sigmoid => ops::sigmoid(owned(&mut values)?),
                Op::Reshape { shape } => ops::reshape(owned(&mut values)?, shape)?,
                Op::Add => {
                    let b = values_ref(&values, step.inputs[1])?.clone();
                    ops::add(owned(&mut values)?, &b)?
                }
                Op::ChannelAffine { scale, shift } => ops::channel_affine(owned(&mut values)?, scale, shift)?,
                Op::ScalarAffine { mul, add } => ops::scalar_affine(owned(&mut values)?, *mul, *add),
                Op::PRelu { slope } => ops::prelu(owned(&mut values)?, slope)?,
                Op::Flatten { axis } => ops::flatten(owned(&mut values)?, *axis)?,
                Op::Dense { weight, bias, outputs } => {
                    ops::dense(values_ref(&values, step.inputs[0])?, weight, bias, *outputs)?
                }
                Op::Identity => owned(&mut values)?,
            };
            values[step.output] = Some(out);
            for &v in &step.frees {
                values[v] = None;
            }
        }
        self.outputs
            .iter()
            .map(|(name, v)| {
                values[*v].clone().map(|t| (name.clone(), t)).ok_or(Error::Model("an output was not computed"))
            })
            .collect()
    }
}

fn values_ref(values: &[Option<Tensor>], v: usize) -> Result<&Tensor, Error> {
    values[v].as_ref().ok_or(Error::Model("a value used before it is computed"))
}

fn float<'a>(constants: &'a HashMap<String, Constant>, name: &str) -> Option<&'a Tensor> {
    match constants.get(name) {
        Some(Constant::Float(t)) => Some(t),
        _ => None,
    }
}

fn ints<'a>(constants: &'a HashMap<String, Constant>, name: &str) -> Option<&'a [i64]> {
    match constants.get(name) {
        Some(Constant::Int(v)) => Some(v),
        _ => None,
    }
}

/// Evaluates a node at load time when everything it reads is constant.
fn fold(node: &NodeProto, constants: &HashMap<String, Constant>) -> Result<Option<Constant>, Error> {
    let all_constant = node.inputs.iter().all(|i| i.is_empty() || constants.contains_key(i));
    if !all_constant {
        return Ok(None);
    }
    Ok(Some(match node.op_type.as_str() {
        "DequantizeLinear" => Constant::Float(dequantize(node, constants)?),
        "Reshape" => {
            let data = float(constants, &node.inputs[0]).ok_or(Error::Model("Reshape of a non-float constant"))?;
            let shape =
                node.inputs.get(1).and_then(|s| ints(constants, s)).ok_or(Error::Model("Reshape without a shape"))?;
            Constant::Float(ops::reshape(data.clone(), shape)?)
        }
        "Constant" => match node.attribute("value") {
            Some(proto::Attribute::Tensor(t)) => match &t.data {
                TensorData::Float(data) => Constant::Float(Tensor::new(t.dims.clone(), data.clone())?),
                TensorData::Int(data) => Constant::Int(data.clone()),
            },
            _ => return Err(Error::Model("a Constant node without a tensor value")),
        },
        _ => return Ok(None),
    }))
}

/// `y = (x - zero_point) * scale`, per tensor, per axis, or per block along
/// the axis (opset 21's `block_size`), as the int8 "bq" exports use.
fn dequantize(node: &NodeProto, constants: &HashMap<String, Constant>) -> Result<Tensor, Error> {
    let x = float(constants, &node.inputs[0]).ok_or(Error::Model("DequantizeLinear of a non-int8 constant"))?;
    let scale =
        node.inputs.get(1).and_then(|n| float(constants, n)).ok_or(Error::Model("DequantizeLinear without a scale"))?;
    let zero = node.inputs.get(2).filter(|n| !n.is_empty()).and_then(|n| float(constants, n));
    let rank = x.shape.len();
    let axis = node.int("axis", 1)?;
    let axis = if axis < 0 { axis + rank as i64 } else { axis } as usize;
    let block = node.int("block_size", 0)?.max(0) as usize;
    let mut out = Vec::with_capacity(x.data.len());
    if scale.data.len() == 1 {
        let z = zero.map_or(0.0, |z| z.data[0]);
        out.extend(x.data.iter().map(|v| (v - z) * scale.data[0]));
        return Tensor::new(x.shape.clone(), out);
    }
    if axis >= rank {
        return Err(Error::Model("DequantizeLinear axis out of range"));
    }
    // The scale's shape: x's, with the axis divided into blocks (or kept whole per axis).
    let mut scale_shape = if block > 0 { x.shape.clone() } else { vec![1; rank] };
    scale_shape[axis] = if block > 0 { x.shape[axis].div_ceil(block) } else { x.shape[axis] };
    if scale_shape.iter().product::<usize>() != scale.data.len()
        || zero.is_some_and(|z| z.data.len() != scale.data.len())
    {
        return Err(Error::Model("DequantizeLinear scale does not fit its input"));
    }
    let mut index = vec![0usize; rank];
    for &v in &x.data {
        let mut at = 0;
        for d in 0..rank {
            let i = if d == axis && block > 0 {
                index[d] / block
            } else if scale_shape[d] == 1 {
                0
            } else {
                index[d]
            };
            at = at * scale_shape[d] + i;
        }
        let z = zero.map_or(0.0, |z| z.data[at]);
        out.push((v - z) * scale.data[at]);
        for d in (0..rank).rev() {
            index[d] += 1;
            if index[d] < x.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Tensor::new(x.shape.clone(), out)
}

fn pair(node: &NodeProto, name: &str, default: usize) -> Result<(usize, usize), Error> {
    match node.ints(name)? {
        None => Ok((default, default)),
        Some([a, b]) if *a >= 0 && *b >= 0 => Ok((*a as usize, *b as usize)),
        Some(_) => {
            Err(Error::Unsupported(format!("{} with {name} that is not two non-negative numbers", node.op_type)))
        }
    }
}

/// Turns a node that reads a run-time value into a step.
fn lower(node: &NodeProto, constants: &HashMap<String, Constant>) -> Result<Op, Error> {
    let unsupported = |what: &str| Error::Unsupported(format!("{} {what}", node.op_type));
    Ok(match node.op_type.as_str() {
        "Conv" => {
            let weight = node
                .inputs
                .get(1)
                .and_then(|n| float(constants, n))
                .ok_or_else(|| unsupported("with run-time weights"))?;
            let bias = match node.inputs.get(2).filter(|n| !n.is_empty()) {
                Some(n) => float(constants, n).ok_or_else(|| unsupported("with a run-time bias"))?.data.clone(),
                None => Vec::new(),
            };
            let [out_channels, _, kh, kw] = weight.shape[..] else {
                return Err(unsupported("whose weights are not 4-D"));
            };
            if pair(node, "dilations", 1)? != (1, 1) {
                return Err(unsupported("with dilation"));
            }
            if node.text("auto_pad")?.is_some_and(|p| p != "NOTSET") {
                return Err(unsupported("with auto_pad"));
            }
            let pads = match node.ints("pads")? {
                None => [0; 4],
                // ONNX order: begin of each axis, then end of each: (top, left, bottom, right).
                Some([t, l, b, r]) if [t, l, b, r].iter().all(|p| **p >= 0) => {
                    [*t as usize, *l as usize, *b as usize, *r as usize]
                }
                Some(_) => return Err(unsupported("with pads that are not four non-negative numbers")),
            };
            let group = node.int("group", 1)?.max(1) as usize;
            if out_channels % group != 0 || !(bias.is_empty() || bias.len() == out_channels) {
                return Err(unsupported("whose group or bias does not fit its weights"));
            }
            Op::Conv(Conv {
                weight: weight.data.clone(),
                bias,
                out_channels,
                group,
                kernel: (kh, kw),
                stride: pair(node, "strides", 1)?,
                pads,
                relu: false,
            })
        }
        "Relu" => Op::Relu,
        "Sigmoid" => Op::Sigmoid,
        "Dropout" => Op::Identity,
        "Add" | "Sub" | "Mul" => match node.inputs.get(1).and_then(|n| float(constants, n)) {
            Some(c) if c.data.len() == 1 => match node.op_type.as_str() {
                "Add" => Op::ScalarAffine { mul: 1.0, add: c.data[0] },
                "Sub" => Op::ScalarAffine { mul: 1.0, add: -c.data[0] },
                _ => Op::ScalarAffine { mul: c.data[0], add: 0.0 },
            },
            Some(_) => return Err(unsupported("by a constant that is not a scalar")),
            None if node.op_type == "Add" => Op::Add,
            None => return Err(unsupported("of two run-time values")),
        },
        "BatchNormalization" => {
            let param = |i: usize| node.inputs.get(i).and_then(|n| float(constants, n)).map(|t| t.data.clone());
            let (Some(gamma), Some(beta), Some(mean), Some(var)) = (param(1), param(2), param(3), param(4)) else {
                return Err(unsupported("with run-time parameters"));
            };
            let epsilon = node.float("epsilon", 1e-5)?;
            if [beta.len(), mean.len(), var.len()].iter().any(|n| *n != gamma.len()) {
                return Err(unsupported("whose parameters differ in length"));
            }
            let scale: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + epsilon).sqrt()).collect();
            let shift = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
            Op::ChannelAffine { scale, shift }
        }
        "PRelu" => {
            let slope = node
                .inputs
                .get(1)
                .and_then(|n| float(constants, n))
                .ok_or_else(|| unsupported("with a run-time slope"))?;
            Op::PRelu { slope: slope.data.clone() }
        }
        "Flatten" => Op::Flatten { axis: node.int("axis", 1)?.max(0) as usize },
        "Gemm" => {
            let weight = node
                .inputs
                .get(1)
                .and_then(|n| float(constants, n))
                .ok_or_else(|| unsupported("with run-time weights"))?;
            if node.int("transA", 0)? != 0 {
                return Err(unsupported("with transA"));
            }
            let [rows, cols] = weight.shape[..] else { return Err(unsupported("whose weights are not 2-D")) };
            let (alpha, beta) = (node.float("alpha", 1.0)?, node.float("beta", 1.0)?);
            let transposed = node.int("transB", 0)? != 0;
            // Stored as [out][in]: B transposed already when transB = 1.
            let (outputs, inputs) = if transposed { (rows, cols) } else { (cols, rows) };
            let mut dense = vec![0f32; outputs * inputs];
            for o in 0..outputs {
                for i in 0..inputs {
                    let w = if transposed { weight.data[o * cols + i] } else { weight.data[i * cols + o] };
                    dense[o * inputs + i] = alpha * w;
                }
            }
            let bias = match node.inputs.get(2).filter(|n| !n.is_empty()) {
                Some(n) => float(constants, n)
                    .ok_or_else(|| unsupported("with a run-time bias"))?
                    .data
                    .iter()
                    .map(|b| beta * b)
                    .collect(),
                None => vec![0.0; outputs],
            };
            if bias.len() != outputs {
                return Err(unsupported("whose bias does not fit its weights"));
            }
            Op::Dense { weight: dense, bias, outputs }
        }
        "MaxPool" => {
            if node.ints("pads")?.is_some_and(|p| p.iter().any(|&v| v != 0)) || node.int("ceil_mode", 0)? != 0 {
                return Err(unsupported("with padding or ceil_mode"));
            }
            let kernel = pair(node, "kernel_shape", 1)?;
            Op::MaxPool { kernel, stride: pair(node, "strides", 1)? }
        }
        "Resize" | "Upsample" => {
            if node.text("mode")? != Some("nearest") {
                return Err(unsupported("other than nearest"));
            }
            if !matches!(node.text("coordinate_transformation_mode")?, None | Some("asymmetric"))
                || !matches!(node.text("nearest_mode")?, None | Some("floor"))
            {
                return Err(unsupported("other than asymmetric coordinates with floor rounding"));
            }
            let scales_at = if node.op_type == "Upsample" { 1 } else { 2 };
            let scales = node
                .inputs
                .get(scales_at)
                .and_then(|n| float(constants, n))
                .ok_or_else(|| unsupported("without constant scales"))?;
            match scales.data[..] {
                [1.0, 1.0, fy, fx] if fy >= 1.0 && fx >= 1.0 && fy.fract() == 0.0 && fx.fract() == 0.0 => {
                    Op::Upsample { factor: (fy as usize, fx as usize) }
                }
                _ => return Err(unsupported("by factors that are not whole and spatial")),
            }
        }
        "Transpose" => {
            let perm = node.ints("perm")?.ok_or_else(|| unsupported("without perm"))?;
            Op::Transpose { perm: perm.iter().map(|&p| p.max(0) as usize).collect() }
        }
        "Reshape" => {
            let shape = node
                .inputs
                .get(1)
                .and_then(|n| ints(constants, n))
                .ok_or_else(|| unsupported("with a run-time shape"))?;
            Op::Reshape { shape: shape.to_vec() }
        }
        other => return Err(Error::Unsupported(format!("operator {other}"))),
    })
}

/// A per-channel affine (a BatchNormalization) or a ReLU straight after a
/// convolution whose result nothing else reads becomes part of that
/// convolution: the affine folded into its weights and bias, the ReLU
/// applied as it writes. Repeats, so Conv → BN → ReLU is one step.
fn fuse_into_conv(steps: &mut Vec<Step>, outputs: &[(String, usize)]) {
    let readers = |steps: &[Step], v: usize| steps.iter().filter(|s| s.inputs.contains(&v)).count();
    let mut i = 1;
    while i < steps.len() {
        let conv_out = steps[i - 1].output;
        let alone = steps[i].inputs == [conv_out]
            && readers(steps, conv_out) == 1
            && !outputs.iter().any(|(_, v)| *v == conv_out);
        let (before, after) = steps.split_at_mut(i);
        let fused = match (&after[0].op, &mut before[i - 1].op) {
            (Op::Relu, Op::Conv(conv)) if alone => {
                conv.relu = true;
                true
            }
            (Op::ChannelAffine { scale, shift }, Op::Conv(conv))
                if alone && !conv.relu && scale.len() == conv.out_channels =>
            {
                let per_channel = conv.weight.len() / conv.out_channels;
                if conv.bias.is_empty() {
                    conv.bias = vec![0.0; conv.out_channels];
                }
                for (c, (s, t)) in scale.iter().zip(shift).enumerate() {
                    conv.weight[c * per_channel..(c + 1) * per_channel].iter_mut().for_each(|w| *w *= s);
                    conv.bias[c] = conv.bias[c] * s + t;
                }
                true
            }
            _ => false,
        };
        if fused {
            let next = steps.remove(i);
            steps[i - 1].output = next.output;
        } else {
            i += 1;
        }
    }
}

fn plan_frees(steps: &mut [Step], outputs: &[(String, usize)]) {
    let mut last_read: HashMap<usize, usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        for &v in &step.inputs {
            last_read.insert(v, i);
        }
    }
    for (v, i) in last_read {
        if !outputs.iter().any(|(_, o)| *o == v) {
            steps[i].frees.push(v);
        }
    }
}
