//! Procedural macros of rask, used through the facade: `#[rask::remote]`.
//!
//! `#[rask::remote]` on a function makes it a registered kernel, so that
//! calls of it can run in other rask processes of the same build (a
//! cluster's workers). The function itself is left as it is; next to it the
//! macro adds
//!
//! * a kernel type registered under the name `module_path::function`;
//! * codecs for its argument and result types, and for `Vec`s of its result
//!   type (they must implement `Clone` and serde's `Serialize` and
//!   `Deserialize`);
//! * a module of the same name with `delayed(args…)`, which builds a lazy
//!   call: each argument is a `&Delayed<T>` or a plain `T`, and the key is
//!   derived from the function's name and its arguments' keys. A `&[T]`
//!   argument is a `Vec<T>` value and a `&str` argument a `String` value.
//!
//! ```ignore
//! #[rask::remote]
//! fn clean(raw: &[f64], limit: f64) -> Vec<f64> {
//!     raw.iter().copied().filter(|x| x.abs() < limit).collect()
//! }
//!
//! let raw = rask::delayed::value(vec![1.0, 50.0, -2.0]);
//! let cleaned = clean::delayed(&raw, 10.0); // Delayed<Vec<f64>>, portable
//! assert_eq!(cleaned.compute()?, vec![1.0, -2.0]);
//! ```
//!
//! A function returning `Result<T, E>` gives a `Delayed<T>`; an `Err` fails
//! the task. `#[rask::remote(pure = false)]` gives every call a fresh key
//! (for functions with side effects, such as writing a file).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{
    Error, Expr, FnArg, GenericArgument, ItemFn, Lit, Meta, Pat, PathArguments, ReturnType, Token,
    Type,
};

/// Registers a function for use in other processes; see the crate docs.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand(attr.into(), item.into()) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// How an argument is taken from its value: by reference, as a slice or
/// `str` of a stored `Vec` or `String`, or cloned.
enum ArgKind {
    Ref(Type),
    Slice(Type),
    Str,
    Owned(Type),
}

fn parse_pure(attr: TokenStream2) -> syn::Result<bool> {
    let mut pure = true;
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    for meta in metas {
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("pure") => match &nv.value {
                Expr::Lit(l) => match &l.lit {
                    Lit::Bool(b) => pure = b.value,
                    other => return Err(Error::new_spanned(other, "`pure` takes true or false")),
                },
                other => return Err(Error::new_spanned(other, "`pure` takes true or false")),
            },
            other => {
                return Err(Error::new_spanned(
                    other,
                    "unknown option; #[rask::remote] takes `pure = false` or nothing",
                ));
            }
        }
    }
    Ok(pure)
}

/// `Some(T)` when `ty` is spelled `Result<T, …>` (any path ending in
/// `Result`).
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    })
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let pure = parse_pure(attr)?;
    let func: ItemFn = syn::parse2(item)?;
    let sig = &func.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new_spanned(
            &sig.generics,
            "#[rask::remote] functions cannot be generic: a registered kernel has one name and \
             one type per argument; write a non-generic wrapper for each type you need",
        ));
    }
    if let Some(a) = &sig.asyncness {
        return Err(Error::new_spanned(
            a,
            "#[rask::remote] functions cannot be async",
        ));
    }
    let name = &sig.ident;
    let vis = &func.vis;
    let mut kinds = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                return Err(Error::new_spanned(
                    r,
                    "#[rask::remote] marks free functions, not methods",
                ));
            }
            FnArg::Typed(pt) => {
                if !matches!(&*pt.pat, Pat::Ident(_) | Pat::Wild(_)) {
                    return Err(Error::new_spanned(
                        &pt.pat,
                        "give this argument a plain name: #[rask::remote] needs one per argument",
                    ));
                }
                kinds.push(match &*pt.ty {
                    Type::Reference(r) => {
                        if r.mutability.is_some() {
                            return Err(Error::new_spanned(
                                r,
                                "arguments are shared with other tasks: take `&T`, not `&mut T`",
                            ));
                        }
                        match &*r.elem {
                            Type::Slice(sl) => ArgKind::Slice((*sl.elem).clone()),
                            Type::Path(p) if p.path.is_ident("str") => ArgKind::Str,
                            other => ArgKind::Ref(other.clone()),
                        }
                    }
                    other => ArgKind::Owned(other.clone()),
                });
            }
        }
    }
    let (ret_ty, fallible) = match &sig.output {
        ReturnType::Default => (syn::parse_quote!(()), false),
        ReturnType::Type(_, ty) => match result_ok_type(ty) {
            Some(ok) => (ok, true),
            None => ((**ty).clone(), false),
        },
    };
    let kernel = format_ident!("__rask_remote_{}", name);
    let name_str = name.to_string();
    let arity = kinds.len();
    let mut takes = Vec::new();
    let mut call_args = Vec::new();
    let mut arg_types = Vec::new();
    let mut params = Vec::new();
    let mut erased = Vec::new();
    for (i, k) in kinds.iter().enumerate() {
        let var = format_ident!("__arg{}", i);
        let ty: Type = match k {
            ArgKind::Ref(t) | ArgKind::Owned(t) => t.clone(),
            ArgKind::Slice(t) => syn::parse_quote!(::std::vec::Vec<#t>),
            ArgKind::Str => syn::parse_quote!(::std::string::String),
        };
        arg_types.push(ty.clone());
        takes.push(match k {
            ArgKind::Ref(_) | ArgKind::Slice(_) | ArgKind::Str => quote! {
                let #var: &#ty = ::rask::__private::arg::<#ty>(args, #i)?;
            },
            ArgKind::Owned(t) => quote! {
                let #var: #t = ::core::clone::Clone::clone(::rask::__private::arg::<#t>(args, #i)?);
            },
        });
        call_args.push(match k {
            ArgKind::Slice(_) => quote! { #var.as_slice() },
            ArgKind::Str => quote! { #var.as_str() },
            _ => quote! { #var },
        });
        params.push(quote! { #var: impl ::rask::delayed::IntoArg<#ty> });
        erased.push(quote! { ::rask::delayed::IntoArg::<#ty>::into_arg(#var).erase() });
    }
    let output = if fallible {
        quote! { ::rask::__private::output_result(__out) }
    } else {
        quote! { ::rask::__private::output(__out) }
    };
    let span = Span::call_site();
    let doc =
        format!("Lazy calls of [`{name_str}`](fn@{name_str}) (registered with `#[rask::remote]`).");
    let delayed_doc = format!(
        "A lazy, portable call of `{name_str}`: each argument is a `&Delayed<T>` or a plain `T`."
    );
    Ok(quote::quote_spanned! {span=>
        #func

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(::rask::__private::serde::Serialize, ::rask::__private::serde::Deserialize)]
        #[serde(crate = "::rask::__private::serde")]
        #vis struct #kernel;

        impl ::rask::__private::Kernel for #kernel {
            const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", #name_str);
            fn run(
                &self,
                args: &[::rask::Value],
            ) -> ::core::result::Result<::rask::Value, ::rask::TaskError> {
                ::rask::__private::check_arity(args, #arity)?;
                #(#takes)*
                let __out = #name(#(#call_args),*);
                #output
            }
            fn label(&self) -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(#name_str)
            }
        }

        ::rask::__private::inventory::submit! {
            ::rask::__private::KernelDef::of::<#kernel>()
        }
        ::rask::__private::inventory::submit! {
            ::rask::__private::RemoteFn {
                type_id: || ::rask::__private::type_id_of(&#name),
                kernel: <#kernel as ::rask::__private::Kernel>::NAME,
                fallible: #fallible,
                pure: #pure,
            }
        }
        #(
            ::rask::__private::inventory::submit! {
                ::rask::__private::TypeEntry::serde_unsized::<#arg_types>()
            }
        )*
        ::rask::__private::inventory::submit! {
            ::rask::__private::TypeEntry::serde_unsized::<#ret_ty>()
        }
        ::rask::__private::inventory::submit! {
            ::rask::__private::TypeEntry::serde_unsized::<::std::vec::Vec<#ret_ty>>()
        }

        #[doc = #doc]
        #[allow(non_snake_case, unused_imports)]
        #vis mod #name {
            use super::*;

            /// The name the function is registered under.
            pub const NAME: &str = <super::#kernel as ::rask::__private::Kernel>::NAME;

            #[doc = #delayed_doc]
            pub fn delayed(#(#params),*) -> ::rask::delayed::Delayed<#ret_ty> {
                ::rask::delayed::from_kernel(super::#kernel, ::std::vec![#(#erased),*], #pure)
            }
        }
    })
}
